//! Geography from MaxMind-format `.mmdb` files, read in memory. Both the
//! MaxMind GeoIP2/GeoLite2 layout (`country.iso_code`, `subdivisions`, `city.names`)
//! and the flat DB-IP Lite layout of the `@ip-location-db` packages
//! (`country_code`, `state1`, `city`) are read. Several files may be given
//! (e.g. separate IPv4 and IPv6 databases); the first that knows an address answers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;
use streamtally_model::Geo;

#[derive(Debug, thiserror::Error)]
#[error("cannot open the geography database {path}: {reason}")]
pub struct GeoError {
    pub path: PathBuf,
    pub reason: String,
}

pub struct GeoDb {
    readers: Vec<maxminddb::Reader<Vec<u8>>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Named {
    Text(String),
    Names { names: BTreeMap<String, String> },
    Code { iso_code: String },
}

impl Named {
    fn name(self) -> Option<String> {
        match self {
            Named::Text(s) => Some(s),
            Named::Names { names } => names.get("en").cloned().or_else(|| names.into_values().next()),
            Named::Code { iso_code } => Some(iso_code),
        }
    }
}

#[derive(Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Subdivision {
    iso_code: Option<String>,
    names: Option<BTreeMap<String, String>>,
}

/// Fields of both layouts; whichever a record has are used.
#[derive(Deserialize)]
struct Record {
    // DB-IP Lite (flat)
    country_code: Option<String>,
    state1: Option<String>,
    // MaxMind
    country: Option<IsoCode>,
    subdivisions: Option<Vec<Subdivision>>,
    // Both: a string (flat) or a names map (MaxMind)
    city: Option<Named>,
}

impl GeoDb {
    pub fn open(paths: &[PathBuf]) -> Result<GeoDb, GeoError> {
        let readers = paths
            .iter()
            .map(|p| {
                maxminddb::Reader::open_readfile(p).map_err(|e| GeoError {
                    path: p.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GeoDb { readers })
    }

    /// Country (ISO code), region and city of an address; unknown parts are `None`.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        for reader in &self.readers {
            let Ok(result) = reader.lookup(ip) else { continue };
            let Ok(Some(record)) = result.decode::<Record>() else { continue };
            let geo = record.into_geo();
            if geo.country.is_some() || geo.city.is_some() {
                return geo;
            }
        }
        Geo::default()
    }
}

impl Record {
    fn into_geo(self) -> Geo {
        let country = self.country_code.or_else(|| self.country.and_then(|c| c.iso_code));
        let region = self.state1.or_else(|| {
            self.subdivisions
                .and_then(|s| s.into_iter().next())
                .and_then(|s| s.names.and_then(|n| n.get("en").cloned()).or(s.iso_code))
        });
        Geo {
            country: country.map(Into::into),
            region: region.map(Into::into),
            city: self.city.and_then(Named::name).map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo_of(json: &str) -> Geo {
        serde_json::from_str::<Record>(json).unwrap().into_geo()
    }

    #[test]
    fn both_record_layouts_read_alike() {
        let flat = geo_of(r#"{"country_code":"DE","state1":"Bavaria","city":"Munich","latitude":48.1}"#);
        let maxmind = geo_of(
            r#"{"country":{"iso_code":"DE","names":{"en":"Germany"}},"subdivisions":[{"iso_code":"BY","names":{"en":"Bavaria","de":"Bayern"}}],"city":{"names":{"de":"München","en":"Munich"}}}"#,
        );
        let want = Geo {
            country: Some("DE".into()),
            region: Some("Bavaria".into()),
            city: Some("Munich".into()),
        };
        assert_eq!(flat, want);
        assert_eq!(maxmind, want);
        assert_eq!(
            geo_of(r#"{"country":{"iso_code":"BR"}}"#),
            Geo {
                country: Some("BR".into()),
                region: None,
                city: None
            }
        );
    }

    /// The real DB-IP Lite databases that `scripts/test` installs from npm.
    #[test]
    fn looks_up_addresses_in_a_real_database() {
        let paths: Vec<PathBuf> = std::env::var("STREAMTALLY_TEST_GEOIP")
            .expect("STREAMTALLY_TEST_GEOIP names the test geography databases; run ./scripts/test, which installs them")
            .split(':')
            .map(PathBuf::from)
            .collect();
        let db = GeoDb::open(&paths).unwrap();
        let google = db.lookup("8.8.8.8".parse().unwrap());
        assert_eq!(google.country.as_deref(), Some("US"));
        assert!(google.city.is_some());
        // IPv6 comes from the second file; which country DB-IP places this one in varies by release.
        assert!(db.lookup("2001:4860:4860::8888".parse().unwrap()).country.is_some());
        assert_eq!(db.lookup("127.0.0.1".parse().unwrap()), Geo::default());
        assert!(GeoDb::open(&[PathBuf::from("/nonexistent.mmdb")]).is_err());
    }
}
