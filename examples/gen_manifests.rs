//! Writes N generated manifest documents into DIR, for measuring `warrant validate`:
//! `cargo run --release --example gen_manifests -- DIR 10000`.
//!
//! Three targets plus an even mix of the three resource kinds, 100 documents per file.

use std::fmt::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(count)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: gen_manifests DIR COUNT");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let mut text = String::from(concat!(
        "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: atlan-prod}\n",
        "spec:\n  atlan: {baseUrl: https://acme.atlan.com}\n---\n",
        "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: connect-prod}\n",
        "spec:\n  connect: {tenantId: 7fc97c8b-8f60-4f29-af71-3178c414e7a0}\n---\n",
        "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: mist-prod}\n",
        "spec:\n  mist: {cloud: global01, orgId: a40f5d1f-d889-42e9-94ea-b9b33585fc6b}\n",
    ));
    let mut file = 0;
    for i in 3..count {
        if i % 100 == 0 {
            std::fs::write(dir.join(format!("m{file:04}.yaml")), &text)?;
            file += 1;
            text.clear();
        } else {
            text.push_str("---\n");
        }
        let _ = match i % 3 {
            0 => write!(
                text,
                "apiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: conn-{i}}}\nspec:\n  target: atlan-prod\n  connection: default/snowflake/{i}\n  apiTokens:\n    - name: ci-pipeline\n    - guid: 5d3c1a9e-2b7f-4c1d-9e8a-6f4b2c0d1e3a\n"
            ),
            1 => write!(
                text,
                "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: identity-{i}}}\nspec:\n  target: connect-prod\n  roles:\n    - Tenant Member\n    - id: 3f1e6c2a-9b8d-4e7f-a1c2-d3e4f5a6b7c8\n  tags: [managed-by:warrant, env:prod]\n"
            ),
            _ => write!(
                text,
                "apiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: token-{i}}}\nspec:\n  target: mist-prod\n  privileges:\n    - {{role: write, scope: site, siteId: d96e3952-53e8-4266-959a-45acd55f5114}}\n    - {{role: read, scope: org}}\n  srcIps: [63.3.56.0/24, 63.3.55.4]\n  keySink: {{file: keys/token-{i}.key}}\n"
            ),
        };
    }
    std::fs::write(dir.join(format!("m{file:04}.yaml")), &text)?;
    println!(
        "wrote {count} documents in {} files to {}",
        file + 1,
        dir.display()
    );
    Ok(())
}
