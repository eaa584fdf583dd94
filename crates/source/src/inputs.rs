//! Which inputs an import reads: files, folders (walked), globs (expanded),
//! and `-` for standard input, in the order given; each folder's and glob's
//! files sorted, so the same command reads the same files in the same order.

use std::path::{Path, PathBuf};

use crate::SourceError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Input::Stdin => None,
            Input::File(p) => Some(p),
        }
    }

    /// The name in messages and summaries.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "stdin".into(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// The inputs `paths` name.
pub fn expand(paths: &[String]) -> Result<Vec<Input>, SourceError> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(Input::Stdin);
        } else if p.contains(['*', '?', '[']) {
            let glob = glob::glob(p).map_err(|e| SourceError::Glob {
                pattern: p.clone(),
                reason: e.to_string(),
            })?;
            let mut matched: Vec<PathBuf> = glob.filter_map(Result::ok).collect();
            matched.sort();
            if matched.is_empty() {
                return Err(SourceError::NoMatch(p.clone()));
            }
            out.extend(matched.into_iter().map(Input::File));
        } else if Path::new(p).is_dir() {
            let mut files = Vec::new();
            walk(Path::new(p), &mut files)?;
            files.sort();
            out.extend(files.into_iter().map(Input::File));
        } else if Path::new(p).exists() {
            out.push(Input::File(PathBuf::from(p)));
        } else {
            return Err(SourceError::NoSuchFile(p.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let open = |source| SourceError::Open {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(open)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_and_globs_expanded_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for f in ["b.log", "a.log", "sub/c.log"] {
            std::fs::write(dir.path().join(f), "x\n").unwrap();
        }
        let root = dir.path().display().to_string();
        let walked = expand(std::slice::from_ref(&root)).unwrap();
        let names: Vec<String> = walked
            .iter()
            .map(|i| i.path().unwrap().strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.log", "b.log", "sub/c.log"]);
        let globbed = expand(&[format!("{root}/*.log"), "-".into()]).unwrap();
        assert_eq!(globbed.len(), 3);
        assert_eq!(globbed[2], Input::Stdin);
        assert!(matches!(expand(&[format!("{root}/*.gz")]), Err(SourceError::NoMatch(_))));
        assert!(matches!(expand(&[format!("{root}/none.log")]), Err(SourceError::NoSuchFile(_))));
    }
}
