//! `l402 token verify` takes its secrets from files and stdin: the root key, the master
//! secret it is derived from, the preimage and the whole credential. Secrets on the
//! command line (where `ps` shows them) still work only with a warning.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use l402_core::{DerivedRootKeyStore, Identifier, Macaroon, MasterSecret, PaymentHash, TokenId};

use crate::support::{TempDir, code, l402, stderr, stdout_json};

const PREIMAGE: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const SECRET: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// Runs `cmd` with `input` on stdin.
fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // The command may exit before reading everything (a refused input): a broken pipe.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

/// A macaroon as `l402 proxy` mints it: root key = HMAC(master secret, token id).
fn proxy_macaroon(secret_hex: &str) -> String {
    let hash = l402_core::Preimage::from_hex(PREIMAGE)
        .unwrap()
        .payment_hash();
    let token_id = TokenId::from_hex(&"ab".repeat(32)).unwrap();
    let store = DerivedRootKeyStore::new(MasterSecret::from_hex(secret_hex).unwrap());
    let key = store.derive_keys(&token_id).remove(0);
    let id = Identifier::new(PaymentHash::from_hex(&hash.to_hex()).unwrap(), token_id);
    let mut mac = Macaroon::new(&key, id.encode().to_vec(), None).unwrap();
    mac.add_first_party_caveat("services=api:0").unwrap();
    mac.to_base64()
}

#[test]
fn the_master_secret_comes_from_a_file_or_stdin() {
    let dir = TempDir::new("secrets");
    std::fs::write(dir.join("master.secret"), format!("{SECRET}\n")).unwrap();
    std::fs::write(dir.join("preimage"), PREIMAGE).unwrap();
    let mac = proxy_macaroon(SECRET);

    let mut cmd = l402(&["token", "verify", "--master-secret-file"]);
    cmd.arg(dir.join("master.secret"))
        .arg("--preimage-file")
        .arg(dir.join("preimage"))
        .arg(&mac);
    let out = run_with_stdin(cmd, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["receipt"]["service"], "api");
    assert_eq!(stderr(&out), "", "no warning for secrets from files");

    // The master secret on stdin.
    let mut cmd = l402(&["token", "verify", "--master-secret-file", "-"]);
    cmd.arg("--preimage-file")
        .arg(dir.join("preimage"))
        .arg(&mac);
    let out = run_with_stdin(cmd, SECRET);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Another secret: the signature check fails.
    let mut cmd = l402(&["token", "verify", "--master-secret-file", "-"]);
    cmd.arg("--preimage-file")
        .arg(dir.join("preimage"))
        .arg(&mac);
    let out = run_with_stdin(cmd, &"17".repeat(32));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["check"], "signature");
}

#[test]
fn the_credential_and_the_root_key_come_from_stdin() {
    let dir = TempDir::new("secrets");
    let key = "0707070707070707070707070707070707070707070707070707070707070707";
    std::fs::write(dir.join("root.key"), key).unwrap();
    let hash = l402_core::Preimage::from_hex(PREIMAGE)
        .unwrap()
        .payment_hash();
    let mut mint = l402(&["token", "mint", "--root-key-file"]);
    mint.arg(dir.join("root.key")).args([
        "--payment-hash",
        &hash.to_hex(),
        "--caveat",
        "services=api:0",
    ]);
    let out = run_with_stdin(mint, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mac = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // The whole credential (macaroon and preimage) on stdin: valid, no warning.
    let mut cmd = l402(&["token", "verify", "--root-key-file"]);
    cmd.arg(dir.join("root.key")).arg("-");
    let out = run_with_stdin(cmd, &format!("L402 {mac}:{PREIMAGE}\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    // The root key on stdin.
    let mut cmd = l402(&["token", "verify", "--root-key-file", "-", "--preimage-file"]);
    std::fs::write(dir.join("preimage"), PREIMAGE).unwrap();
    cmd.arg(dir.join("preimage")).arg(&mac);
    let out = run_with_stdin(cmd, key);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Only one input can be stdin.
    let cmd = l402(&["token", "verify", "--root-key-file", "-", "-"]);
    let out = run_with_stdin(cmd, key);
    assert_eq!(code(&out), 2, "{}", stderr(&out));

    // Secrets on the command line still work, with a warning naming the safe way.
    let mut cmd = l402(&["token", "verify", "--root-key-file"]);
    cmd.arg(dir.join("root.key"))
        .args(["--preimage", PREIMAGE])
        .arg(&mac);
    let out = run_with_stdin(cmd, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("--preimage-file"), "{}", stderr(&out));
    let mut cmd = l402(&["token", "verify", "--root-key-file"]);
    cmd.arg(dir.join("root.key"))
        .arg(format!("L402 {mac}:{PREIMAGE}"));
    let out = run_with_stdin(cmd, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));

    // An oversized stdin is refused, not read without bound.
    let mut cmd = l402(&["token", "verify", "--root-key-file"]);
    cmd.arg(dir.join("root.key")).arg("-");
    let out = run_with_stdin(cmd, &"A".repeat(200 * 1024));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
