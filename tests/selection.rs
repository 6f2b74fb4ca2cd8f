//! Account selection end to end: shards that together cover every account
//! exactly once, include and exclude lists of OUs, and an include list of
//! accounts that matches none.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use common::{Moto, Seed, describe_output, files_under, read_tables, rows, run_orgscan, seed};

const SHARD_COUNT: usize = 3;

fn scan(moto: &Moto, output: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["scan", "--output", output.to_str().unwrap(), "--role-name", "OrgScanRole", "--log-format", "json"];
    args.extend_from_slice(extra);
    run_orgscan(&args, &moto.env())
}

fn seeded_ids(seeded: &Value) -> Vec<String> {
    seeded["accounts"]
        .as_array()
        .expect("seed output has no accounts array")
        .iter()
        .map(|account| account["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn shards_cover_every_account_once() {
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Accounts(14));
    let output_dir = tempfile::tempdir().unwrap();

    let mut owners: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut finding_counts = 0;
    for index in 0..SHARD_COUNT {
        let shard = format!("{index}/{SHARD_COUNT}");
        let shard_dir = output_dir.path().join(format!("shard-{index}"));
        let output = scan(&moto, &shard_dir, &["--shard", &shard]);
        assert_eq!(output.status.code(), Some(0), "shard {shard}:\n{}", describe_output(&output));

        let tables = read_tables(&shard_dir);
        for table in ["findings", "credential_report", "accounts"] {
            for file in tables[table]["files"].as_array().unwrap() {
                let suffix = format!("-shard-{index}-of-{SHARD_COUNT}.parquet");
                assert!(file.as_str().unwrap().ends_with(&suffix), "{table} file {file} lacks {suffix}");
            }
        }
        for row in rows(&tables, "accounts") {
            assert_eq!(row["outcome"], "scanned", "shard {shard}: {row}");
            let id = row["account_id"].as_str().unwrap().to_owned();
            let number: u64 = id.parse().unwrap();
            assert_eq!(number % SHARD_COUNT as u64, index as u64, "account {id} in the wrong shard {shard}");
            owners.entry(id).or_default().push(index);
        }
        finding_counts += rows(&tables, "findings").len();
    }

    let ids = seeded_ids(&seeded);
    for id in &ids {
        assert_eq!(owners.get(id).map(Vec::len), Some(1), "account {id} scanned by shards {:?}", owners.get(id));
    }
    assert_eq!(owners.len(), ids.len(), "shards scanned accounts that were never seeded: {owners:?}");
    assert!(finding_counts >= ids.len() - 1, "too few findings across shards: {finding_counts}");
}

#[test]
fn include_and_exclude_ous() {
    let moto = Moto::start();
    let seeded = seed(&moto, Seed::Preset("demo"));
    let ou_id = seeded["organizational_units"]["workloads"].as_str().expect("demo preset has a workloads OU");
    let in_ou: Vec<String> = seeded["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|account| account["ou"] == "workloads")
        .map(|account| account["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!in_ou.is_empty(), "demo preset has no accounts in the workloads OU");
    let config_dir = tempfile::tempdir().unwrap();

    for (key, expected_in_ou, expected_elsewhere) in [("include_ous", "scanned", "skipped"), ("exclude_ous", "skipped", "scanned")] {
        let config = config_dir.path().join(format!("{key}.toml"));
        std::fs::write(&config, format!("[scan]\n{key} = [\"{ou_id}\"]\n")).unwrap();
        let output_dir = tempfile::tempdir().unwrap();

        let output = scan(&moto, output_dir.path(), &["--config", config.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{key}:\n{}", describe_output(&output));

        let tables = read_tables(output_dir.path());
        let accounts = rows(&tables, "accounts");
        assert_eq!(accounts.len(), seeded_ids(&seeded).len(), "{key}: every account gets one row");
        for row in accounts {
            let id = row["account_id"].as_str().unwrap();
            let expected = if in_ou.iter().any(|ou_account| ou_account == id) { expected_in_ou } else { expected_elsewhere };
            assert_eq!(row["outcome"], expected, "{key}: account {id}: {row}");
            if expected == "skipped" {
                assert_eq!(row["error_code"], "excluded_by_config", "{key}: account {id}: {row}");
            }
        }
    }
}

#[test]
fn include_list_matching_nothing_fails() {
    let moto = Moto::start();
    seed(&moto, Seed::Preset("demo"));
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("include.toml");
    std::fs::write(&config, "[scan]\ninclude_accounts = [\"999999999999\"]\n").unwrap();
    let output_dir = tempfile::tempdir().unwrap();

    let output = scan(&moto, output_dir.path(), &["--config", config.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(1), "{}", describe_output(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("999999999999"), "the error names the id:\n{stderr}");
    assert!(stderr.contains("scan.include_accounts"), "the error names the key:\n{stderr}");
    let published = files_under(output_dir.path());
    assert!(published.is_empty(), "nothing is published: {published:?}");
}

