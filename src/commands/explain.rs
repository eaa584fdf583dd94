//! `streamtally explain`: how the server reads what it is given, line by line.

use std::io::{BufRead, Write};

use crate::EnrichArgs;

pub fn run(ua: bool, enrich: EnrichArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        ua,
        "say what to explain: --ua reads User-Agent strings from stdin (log lines follow with log import)"
    );
    let enricher = crate::commands::serve::enricher(&enrich)?;
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let c = enricher.classify(line.trim_end_matches('\r'), &[]);
        let v = serde_json::json!({
            "user_agent": line,
            "bot": c.family.bot,
            "bot_rule": c.bot_rule,
            "browser": c.family.browser,
            "os": c.family.os,
            "device_type": c.family.device_type,
            "app": c.family.app,
        });
        writeln!(out, "{v}")?;
    }
    out.flush()?;
    Ok(())
}
