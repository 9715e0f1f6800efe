//! Trust without trusting the organisation, end to end: signed and time-stamped bundles that
//! stock `ssh-keygen -Y verify` and `openssl ts -verify` accept (and the other way round),
//! co-signatures, pinned checkpoints and item proofs — and the attacks each must stop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use evidence_archive::tsp::{self, TsaRoots, TspError};
use evidence_tests::tamper;
use evidence_tests::tsa::{LocalTsa, TsaFiles, unreachable_url};
use evidence_tests::{Sandbox, cmd, json, run, text, venv_tool};

const EPOCH: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const NS: &str = "evidence-archive";
const AGENT: &str = "agent@example.org";

/// A sandbox whose agent signs with a fresh key (and time-stamps, given a TSA URL).
struct Signed {
    s: Sandbox,
    allowed: PathBuf,
}

impl Signed {
    fn new(tsa_url: Option<&str>) -> Self {
        Self::with_extra(tsa_url, "")
    }

    fn with_extra(tsa_url: Option<&str>, timestamp_extra: &str) -> Self {
        let s = Sandbox::with_example();
        let allowed = s.path().join("allowed_signers");
        keygen(&s.path().join("keys/agent"), AGENT, &allowed);
        let mut head = "[signing]\nkey = \"keys/agent\"\n".to_owned();
        if let Some(url) = tsa_url {
            head.push_str(&format!(
                "[timestamp]\nurl = \"{url}\"\nretry_delay_ms = 10\n{timestamp_extra}"
            ));
        }
        let config = fs::read_to_string(s.config()).unwrap();
        fs::write(s.config(), format!("{head}{config}")).unwrap();
        Self { s, allowed }
    }

    fn bundle(&self, seq: u64) -> PathBuf {
        self.s.archive().join(format!("run-{seq:06}.zip"))
    }

    /// Collect `runs` runs, changing a file between them, each succeeding with `code`.
    fn collect(&self, runs: u64, code: i32) -> Vec<serde_json::Value> {
        (1..=runs)
            .map(|i| {
                self.s.write(
                    "workspace/policies/ai-policy.md",
                    format!("# AI policy, revision {i}\n"),
                );
                let o = self.s.collect(Some(EPOCH + i));
                assert_eq!(o.status.code(), Some(code), "{}", text(&o));
                json(&o)
            })
            .collect()
    }

    fn verify(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let o = run(cmd("evidence-auditor")
            .args(["verify", "--json"])
            .arg(self.s.archive())
            .args(args));
        (o.status.code().unwrap_or(-1), json(&o))
    }

    fn allowed(&self) -> String {
        self.allowed.display().to_string()
    }
}

/// `evidence-agent keygen --out KEY --principal P`, appending the printed line to `allowed`.
fn keygen(key: &Path, principal: &str, allowed: &Path) -> String {
    fs::create_dir_all(key.parent().unwrap()).unwrap();
    let o = run(cmd("evidence-agent")
        .args(["keygen", "--principal", principal, "--out"])
        .arg(key));
    assert!(o.status.success(), "{}", text(&o));
    let line = String::from_utf8(o.stdout).unwrap();
    let mut all = fs::read_to_string(allowed).unwrap_or_default();
    all.push_str(&line);
    fs::write(allowed, all).unwrap();
    line
}

fn messages(report: &serde_json::Value) -> String {
    let mut all = Vec::new();
    for p in report["problems"].as_array().into_iter().flatten() {
        all.push(p["message"].as_str().unwrap_or("").to_owned());
    }
    for b in report["bundles"].as_array().into_iter().flatten() {
        for p in b["problems"].as_array().into_iter().flatten() {
            all.push(format!(
                "{}: {}",
                p["entry"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or("")
            ));
        }
    }
    all.join("\n")
}

fn assert_fails(result: (i32, serde_json::Value), expect: &str) {
    let (code, report) = result;
    assert_eq!(code, 1, "verification must fail:\n{report:#}");
    let m = messages(&report);
    assert!(m.contains(expect), "expected {expect:?} in:\n{m}");
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

fn unzip_to(bundle: &Path, dir: &Path) -> PathBuf {
    ok(&run(Command::new("unzip")
        .arg("-qo")
        .arg(bundle)
        .arg("-d")
        .arg(dir)));
    let name = bundle.file_stem().unwrap().to_string_lossy().into_owned();
    dir.join(name)
}

fn ssh_verify(allowed: &Path, principal: &str, sig: &Path, data: &Path) -> Output {
    run(Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", principal, "-n", NS, "-s"])
        .arg(sig)
        .stdin(fs::File::open(data).unwrap()))
}

fn ssh_sign(key: &Path, file: &Path) {
    let mut sig = file.as_os_str().to_owned();
    sig.push(".sig");
    let _ = fs::remove_file(&sig);
    ok(&run(Command::new("ssh-keygen")
        .args(["-Y", "sign", "-f"])
        .arg(key)
        .args(["-n", NS])
        .arg(file)));
}

#[test]
fn keygen_writes_an_owner_only_openssh_key_that_ssh_keygen_reads() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::empty();
    let key = s.path().join("keys/agent");
    let line = keygen(&key, AGENT, &s.path().join("allowed_signers"));
    assert!(line.starts_with("agent@example.org namespaces=\"evidence-archive\" ssh-ed25519 "));
    let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let o = run(Command::new("ssh-keygen").arg("-y").arg("-f").arg(&key));
    ok(&o);
    let public = fs::read_to_string(s.path().join("keys/agent.pub")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1),
        public.split_whitespace().nth(1)
    );
    let again = run(cmd("evidence-agent").args(["keygen", "--out"]).arg(&key));
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
}

#[test]
fn a_signed_timestamped_archive_verifies_and_reports_signer_and_trusted_time() {
    let tsa = LocalTsa::start();
    let t = Signed::new(Some(&tsa.url()));
    let runs = t.collect(2, 0);
    assert_eq!(runs[1]["signing"]["timestamp"]["status"], "stamped");
    let roots = tsa.roots().display().to_string();
    let (code, report) = t.verify(&["--allowed-signers", &t.allowed(), "--tsa-roots", &roots]);
    assert_eq!(code, 0, "{report:#}");
    for b in report["bundles"].as_array().unwrap() {
        let trust = &b["trust"];
        assert_eq!(trust["bundle_signature"]["principals"][0], AGENT, "{b:#}");
        assert_eq!(trust["checkpoint_signature"]["valid"], true);
        assert_eq!(trust["timestamp"]["verified"], true);
        assert_eq!(trust["keys_checked_at"], trust["timestamp"]["time"]);
        assert_eq!(b["summary"]["format_version"], "1.1");
    }
    let human = run(cmd("evidence-auditor")
        .args([
            "verify",
            "--allowed-signers",
            &t.allowed(),
            "--tsa-roots",
            &roots,
        ])
        .arg(t.s.archive()));
    let out = String::from_utf8_lossy(&human.stdout);
    assert!(
        out.contains("bundle signed by agent@example.org") && out.contains("trusted time"),
        "{out}"
    );
    // One bundle on its own, too.
    let o = run(cmd("evidence-auditor")
        .args(["verify", "--json", "--allowed-signers", &t.allowed()])
        .arg(t.bundle(2)));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn our_signatures_and_time_stamps_verify_with_ssh_keygen_openssl_and_bagit() {
    let tsa = LocalTsa::start();
    let t = Signed::new(Some(&tsa.url()));
    t.collect(1, 0);
    let sidecar = t.s.archive().join("run-000001.zip.sig");
    ok(&ssh_verify(&t.allowed, AGENT, &sidecar, &t.bundle(1)));
    let bag = unzip_to(&t.bundle(1), &t.s.path().join("unzipped"));
    ok(&ssh_verify(
        &t.allowed,
        AGENT,
        &bag.join("log/checkpoint.sig"),
        &bag.join("log/checkpoint"),
    ));
    let o = run(Command::new("openssl")
        .args(["ts", "-verify", "-data"])
        .arg(bag.join("log/checkpoint.sig"))
        .arg("-in")
        .arg(bag.join("log/checkpoint.sig.tsr"))
        .arg("-CAfile")
        .arg(tsa.roots()));
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Verification: OK"));
    ok(&run(Command::new(venv_tool("bagit.py"))
        .arg("--validate")
        .arg(&bag)));
    // ssh-keygen rejects a tampered bundle, as we do.
    let mut bytes = fs::read(t.bundle(1)).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 1;
    fs::write(t.bundle(1), bytes).unwrap();
    assert!(
        !ssh_verify(&t.allowed, AGENT, &sidecar, &t.bundle(1))
            .status
            .success()
    );
}

#[test]
fn signatures_made_by_ssh_keygen_verify_with_ours_and_cosignatures_show_who_signed_what() {
    let t = Signed::new(None);
    t.collect(1, 0);
    // The agent's key, written by our keygen, signs with stock ssh-keygen: same result.
    ssh_sign(&t.s.path().join("keys/agent"), &t.bundle(1));
    let allowed = t.allowed();
    assert_eq!(t.verify(&["--allowed-signers", &allowed]).0, 0);

    // A person co-signs with a key made and used by ssh-keygen.
    let owner = t.s.path().join("owner");
    ok(&run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "aims owner", "-f"])
        .arg(&owner)));
    let public = fs::read_to_string(t.s.path().join("owner.pub")).unwrap();
    let mut all = fs::read_to_string(&t.allowed).unwrap();
    all.push_str(&format!("aims-owner@example.org {public}"));
    fs::write(&t.allowed, all).unwrap();
    let checkpoint = t.s.path().join("checkpoint");
    let bag = unzip_to(&t.bundle(1), &t.s.path().join("u"));
    fs::copy(bag.join("log/checkpoint"), &checkpoint).unwrap();
    ssh_sign(&owner, &checkpoint);
    let o = run(cmd("evidence-agent")
        .args(["cosign", "--run", "1", "--label", "reviewer", "--archive"])
        .arg(t.s.archive())
        .arg("--signature")
        .arg(t.s.path().join("checkpoint.sig")));
    ok(&o);
    // And one with our cosign and an ssh-keygen key file.
    let o = run(cmd("evidence-agent")
        .args(["cosign", "--run", "1", "--archive"])
        .arg(t.s.archive())
        .arg("--key")
        .arg(&owner));
    ok(&o);
    for label in ["reviewer", "aims-owner"] {
        let cosig =
            t.s.archive()
                .join(format!("run-000001.zip.cosig.{label}.sig"));
        ok(&ssh_verify(
            &t.allowed,
            "aims-owner@example.org",
            &cosig,
            &checkpoint,
        ));
    }
    let (code, report) = t.verify(&["--allowed-signers", &allowed]);
    assert_eq!(code, 0, "{report:#}");
    let cosigs = report["bundles"][0]["trust"]["cosignatures"]
        .as_array()
        .unwrap();
    assert_eq!(cosigs.len(), 2, "{report:#}");
    for c in cosigs {
        assert_eq!(c["principals"][0], "aims-owner@example.org");
        assert_eq!(c["valid"], true);
    }

    // A co-signature over something else is a failure, not a decoration.
    fs::write(t.s.path().join("other"), b"other\n").unwrap();
    ssh_sign(&owner, &t.s.path().join("other"));
    fs::copy(
        t.s.path().join("other.sig"),
        t.s.archive().join("run-000001.zip.cosig.forged.sig"),
    )
    .unwrap();
    assert_fails(
        t.verify(&["--allowed-signers", &allowed]),
        "does not verify",
    );
}

#[test]
fn tokens_from_the_openssl_tsa_verify_with_ours_and_others_do_not() {
    for key_type in ["ec", "rsa"] {
        let tsa = TsaFiles::create(key_type);
        let data = tsa.dir.path().join("data");
        fs::write(&data, b"a checkpoint signature").unwrap();
        let tsr = fs::read(tsa.stamp_with_openssl(&data)).unwrap();
        let roots = TsaRoots::load(&tsa.roots()).unwrap();
        let info = tsp::verify_response(&tsr, b"a checkpoint signature", &roots).unwrap();
        assert_eq!(
            info.tsa.as_deref(),
            Some("CN=Test Evidence TSA"),
            "{key_type}"
        );
        assert_eq!(
            tsp::verify_response(&tsr, b"other data", &roots),
            Err(TspError::ImprintMismatch)
        );
        let stranger = TsaFiles::create("ec");
        let other_roots = TsaRoots::load(&stranger.roots()).unwrap();
        assert!(matches!(
            tsp::verify_response(&tsr, b"a checkpoint signature", &other_roots),
            Err(TspError::Untrusted(_))
        ));
        // A flipped byte anywhere never panics and never changes what the token attests: it
        // fails, or it sat in an unsigned, unused field (the advisory digestAlgorithms set).
        for i in 0..tsr.len() {
            let mut bad = tsr.clone();
            bad[i] ^= 0x01;
            match tsp::verify_response(&bad, b"a checkpoint signature", &roots) {
                Err(_) => {}
                Ok(other) => assert_eq!(other, info, "{key_type}: byte {i}"),
            }
        }
    }
}

#[test]
fn a_bundle_resealed_consistently_by_someone_without_the_key_fails() {
    let t = Signed::new(None);
    t.collect(2, 0);
    let allowed = t.allowed();
    // The forger rewrites an item and recomputes everything in the bundle, keeping the old
    // signature sidecar: the bytes no longer match it.
    let mut e = tamper::unpack(&t.bundle(1));
    let name = tamper::find(&e, "artefact/ai-risk-register.csv");
    e.insert(name, b"risk_id,title\nR-001,nothing to see\n".to_vec());
    tamper::recompute_manifests(&mut e);
    tamper::repack(&e, &t.bundle(1));
    assert_fails(
        t.verify(&["--allowed-signers", &allowed]),
        "does not verify",
    );

    // With their own key, a forger re-seals a whole archive consistently: every structural
    // check passes, and the signer is unknown.
    let forger = Signed::new(None);
    forger.collect(2, 0);
    assert_eq!(forger.verify(&[]).0, 0, "the forgery is consistent");
    assert_fails(
        forger.verify(&["--allowed-signers", &allowed]),
        "which is not in the allowed signers",
    );
}

#[test]
fn an_unsigned_archive_fails_with_allowed_signers() {
    let s = Sandbox::with_example();
    assert!(s.collect(Some(EPOCH)).status.success());
    let allowed = s.path().join("allowed_signers");
    keygen(&s.path().join("k"), AGENT, &allowed);
    let o = run(cmd("evidence-auditor")
        .args(["verify", "--json", "--allowed-signers"])
        .arg(&allowed)
        .arg(s.archive()));
    assert_fails(
        (o.status.code().unwrap_or(-1), json(&o)),
        "unsigned: cannot read its signature run-000001.zip.sig",
    );
}

#[test]
fn a_key_outside_allowed_signers_its_namespaces_or_its_validity_window_fails() {
    let tsa = LocalTsa::start();
    let t = Signed::new(Some(&tsa.url()));
    t.collect(1, 0);
    let line = fs::read_to_string(&t.allowed).unwrap();
    let key = line
        .split_once(" namespaces=\"evidence-archive\" ")
        .unwrap()
        .1;
    let roots = tsa.roots().display().to_string();
    let file = t.s.path().join("allowed_signers_variant");
    let check = |content: String, expect: &str| {
        fs::write(&file, content).unwrap();
        let args = [
            "--allowed-signers",
            &file.to_string_lossy(),
            "--tsa-roots",
            &roots,
        ];
        assert_fails(t.verify(&args), expect);
    };
    let other = t.s.path().join("other-key");
    let other_line = keygen(&other, "someone@example.org", &t.s.path().join("unused"));
    check(other_line, "which is not in the allowed signers");
    check(
        format!("{AGENT} valid-before=\"20200101Z\" {key}"),
        "outside its validity window",
    );
    check(
        format!("{AGENT} valid-after=\"20990101Z\" {key}"),
        "outside its validity window",
    );
    check(
        format!("{AGENT} namespaces=\"git\" {key}"),
        "may not sign in namespace",
    );
    // Inside the window at the token's time: valid.
    fs::write(&file, format!("{AGENT} valid-after=\"20200101Z\" {key}")).unwrap();
    let args = [
        "--allowed-signers",
        &file.to_string_lossy(),
        "--tsa-roots",
        &roots,
    ];
    assert_eq!(t.verify(&args).0, 0);
    // A malformed allowed_signers file is a usage error naming the line.
    fs::write(&file, format!("{AGENT} valid-after=\"2020\" {key}")).unwrap();
    let o = run(cmd("evidence-auditor")
        .args(["verify", "--allowed-signers"])
        .arg(&file)
        .arg(t.s.archive()));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(":1: invalid time"));
}

#[test]
fn a_time_stamp_for_other_data_fails_even_in_a_bundle_signed_by_the_agent() {
    let tsa = LocalTsa::start();
    let t = Signed::new(Some(&tsa.url()));
    t.collect(2, 0);
    // An insider (or a bug) puts run 2's token into run 1 and re-signs the bundle properly.
    let two = tamper::unpack(&t.bundle(2));
    let token = two[&tamper::find(&two, "log/checkpoint.sig.tsr")].clone();
    let mut one = tamper::unpack(&t.bundle(1));
    one.insert(tamper::find(&one, "log/checkpoint.sig.tsr"), token);
    tamper::recompute_manifests(&mut one);
    tamper::repack(&one, &t.bundle(1));
    ssh_sign(&t.s.path().join("keys/agent"), &t.bundle(1));
    let roots = tsa.roots().display().to_string();
    assert_fails(
        t.verify(&["--allowed-signers", &t.allowed(), "--tsa-roots", &roots]),
        "its message imprint does not match",
    );
}

#[test]
fn a_rolled_back_or_forked_archive_fails_against_a_pinned_checkpoint() {
    let t = Signed::new(None);
    t.collect(2, 0);
    let pin = t.s.path().join("pinned-checkpoint");
    let allowed = t.allowed();
    let o = run(cmd("evidence-auditor")
        .args(["verify", "--allowed-signers", &allowed, "--save-checkpoint"])
        .arg(&pin)
        .arg(t.s.archive()));
    ok(&o);
    let pin_arg = pin.display().to_string();
    // The archive grows: it extends the pin.
    t.s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, revision 3\n",
    );
    assert!(t.s.collect(Some(EPOCH + 3)).status.success());
    let (code, report) = t.verify(&[
        "--allowed-signers",
        &allowed,
        "--expect-checkpoint",
        &pin_arg,
    ]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["pin"]["extended"], true);
    assert_eq!(report["pin"]["matches_run"], 2);

    // Rolled back: the last two runs are gone (signatures and all).
    let rolled = Sandbox::empty();
    let archive = rolled.path().join("evidence");
    fs::create_dir_all(&archive).unwrap();
    for f in ["run-000001.zip", "run-000001.zip.sig"] {
        fs::copy(t.s.archive().join(f), archive.join(f)).unwrap();
    }
    let o = run(cmd("evidence-auditor")
        .args([
            "verify",
            "--json",
            "--allowed-signers",
            &allowed,
            "--expect-checkpoint",
            &pin_arg,
        ])
        .arg(&archive));
    assert_fails(
        (o.status.code().unwrap_or(-1), json(&o)),
        "rolled back or truncated",
    );

    // Forked: the organisation regenerates its history with the same key and origin.
    fs::remove_dir_all(t.s.archive()).unwrap();
    t.s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, a different past\n",
    );
    assert!(t.s.collect(Some(EPOCH)).status.success());
    t.s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, revision 2b\n",
    );
    assert!(t.s.collect(Some(EPOCH + 1)).status.success());
    t.s.write(
        "workspace/policies/ai-policy.md",
        "# AI policy, revision 3b\n",
    );
    assert!(t.s.collect(Some(EPOCH + 2)).status.success());
    assert_eq!(
        t.verify(&["--allowed-signers", &allowed]).0,
        0,
        "the fork is consistent"
    );
    assert_fails(
        t.verify(&[
            "--allowed-signers",
            &allowed,
            "--expect-checkpoint",
            &pin_arg,
        ]),
        "forked",
    );
}

#[test]
fn an_item_proof_checks_offline_and_a_modified_item_does_not() {
    let tsa = LocalTsa::start();
    let t = Signed::new(Some(&tsa.url()));
    t.collect(2, 0);
    let e = tamper::unpack(&t.bundle(1));
    let meta = tamper::find(&e, "management-review");
    let id = meta.split('/').nth(3).unwrap().to_owned();
    let out = t.s.path().join("proof");
    let roots = tsa.roots().display().to_string();
    let o = run(cmd("evidence-auditor")
        .args([
            "prove",
            &id,
            "--allowed-signers",
            &t.allowed(),
            "--tsa-roots",
            &roots,
        ])
        .arg("--archive")
        .arg(t.s.archive())
        .arg("--out")
        .arg(&out));
    ok(&o);
    let check = |dir: &Path| {
        let o = run(cmd("evidence-auditor")
            .args(["check-proof", "--json"])
            .arg(dir));
        (o.status.code().unwrap_or(-1), json(&o))
    };
    let (code, report) = check(&out);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["anchors"], "directory");
    assert_eq!(
        report["trust"]["checkpoint_signature"]["principals"][0],
        AGENT
    );
    assert_eq!(report["trust"]["timestamp"]["verified"], true);
    // Stock tools, as its README says.
    ok(&run(
        Command::new("python3").arg(out.join("verify_inclusion.py"))
    ));
    ok(&ssh_verify(
        &out.join("allowed_signers"),
        AGENT,
        &out.join("checkpoint.sig"),
        &out.join("checkpoint"),
    ));
    ok(&run(Command::new("openssl")
        .args(["ts", "-verify", "-data"])
        .arg(out.join("checkpoint.sig"))
        .arg("-in")
        .arg(out.join("checkpoint.sig.tsr"))
        .arg("-CAfile")
        .arg(out.join("tsa-roots.pem"))));
    let readme = fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(readme.contains("ssh-keygen -Y verify") && readme.contains("openssl ts -verify"));

    let copy = |name: &str| {
        let dir = t.s.path().join(name);
        evidence_tests::copy_dir(&out, &dir);
        dir
    };
    let problems = |r: &serde_json::Value| r["problems"].to_string();
    // A modified artefact.
    let dir = copy("modified-artefact");
    let artefact = fs::read_dir(dir.join("artefact"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&artefact).unwrap();
    bytes[0] ^= 1;
    fs::write(&artefact, &bytes).unwrap();
    let (code, r) = check(&dir);
    assert_eq!(code, 1);
    assert!(problems(&r).contains("it was modified"), "{r:#}");
    assert!(
        !run(Command::new("python3").arg(dir.join("verify_inclusion.py")))
            .status
            .success()
    );
    // A modified artefact whose proof.json was edited to match: no longer in the tree.
    let proof_json = dir.join("proof.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&fs::read(&proof_json).unwrap()).unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    doc["leaves"][1]["sha256"] = digest.into();
    fs::write(&proof_json, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (code, r) = check(&dir);
    assert_eq!(code, 1);
    assert!(
        problems(&r).contains("not included in the checkpoint's tree"),
        "{r:#}"
    );
    // An edited record.
    let dir = copy("modified-metadata");
    let m = fs::read_to_string(dir.join("metadata.json")).unwrap();
    fs::write(
        dir.join("metadata.json"),
        m.replacen("\"title\":\"", "\"title\":\"X", 1),
    )
    .unwrap();
    assert_eq!(check(&dir).0, 1);
    // Someone else's trust anchors: the checkpoint's signer is unknown to them.
    let dir = copy("other-anchors");
    let other = keygen(
        &t.s.path().join("k2"),
        "x@example.org",
        &t.s.path().join("as2"),
    );
    fs::write(dir.join("allowed_signers"), other).unwrap();
    let (code, r) = check(&dir);
    assert_eq!(code, 1);
    assert!(problems(&r).contains("not in the allowed signers"), "{r:#}");
    // The library entry point the workpapers call gives the same proof.
    let lib_out = t.s.path().join("lib-proof");
    let exported = evidence_archive::proof::export_item_proof(
        &t.s.archive(),
        &id,
        &lib_out,
        &evidence_archive::trust::VerifyOptions::default(),
        &evidence_archive::proof::ExportAnchors::default(),
    )
    .unwrap();
    assert_eq!(exported.run, 1);
    assert_eq!(
        fs::read(lib_out.join("proof.json")).unwrap(),
        fs::read(out.join("proof.json")).unwrap()
    );
}

#[test]
fn an_unreachable_tsa_seals_the_run_untimestamped_and_says_so() {
    let t = Signed::with_extra(Some(&unreachable_url()), "attempts = 2\ntimeout_secs = 2\n");
    let runs = t.collect(1, 1);
    let ts = &runs[0]["signing"]["timestamp"];
    assert_eq!(ts["status"], "untimestamped", "{:#}", runs[0]);
    assert_eq!(ts["attempts"], 2);
    let e = tamper::unpack(&t.bundle(1));
    let gap: serde_json::Value =
        serde_json::from_slice(&e[&tamper::find(&e, "data/gaps/tsa/0001.json")]).unwrap();
    assert_eq!(gap["category"], "untimestamped");
    assert_eq!(gap["attempts"], 2);
    assert!(!e.keys().any(|k| k.ends_with("checkpoint.sig.tsr")));
    let roots = TsaFiles::create("ec");
    let roots = roots.roots().display().to_string();
    let (code, report) = t.verify(&["--allowed-signers", &t.allowed(), "--tsa-roots", &roots]);
    assert_eq!(
        code, 0,
        "untimestamped is reported, not a failure: {report:#}"
    );
    assert_eq!(report["bundles"][0]["trust"]["untimestamped"], true);
    assert!(messages(&report).contains("untimestamped"), "{report:#}");
}

#[test]
fn a_tsa_that_fails_at_first_is_retried() {
    let tsa = LocalTsa::start_failing_first(2);
    let t = Signed::new(Some(&tsa.url()));
    let runs = t.collect(1, 0);
    assert_eq!(runs[0]["signing"]["timestamp"]["status"], "stamped");
    let e = tamper::unpack(&t.bundle(1));
    assert!(e.keys().any(|k| k.ends_with("log/checkpoint.sig.tsr")));
}

#[test]
fn a_crash_before_the_bundle_is_signed_is_noticed_then_repaired_by_the_next_run() {
    let t = Signed::new(None);
    t.collect(1, 0);
    t.s.write("workspace/policies/ai-policy.md", "# AI policy, crash\n");
    let o = run(cmd("evidence-agent")
        .args(["collect", "--quiet", "--config"])
        .arg(t.s.config())
        .env("EVIDENCE_AGENT_CRASH_AT", "state-committed"));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(t.bundle(2).exists() && !t.s.archive().join("run-000002.zip.sig").exists());
    let allowed = t.allowed();
    assert_fails(t.verify(&["--allowed-signers", &allowed]), "unsigned");
    let o = t.s.collect(None);
    ok(&o);
    assert!(
        json(&o)["signing"]["repaired"]
            .as_str()
            .unwrap()
            .ends_with("run-000002.zip.sig")
    );
    let (code, report) = t.verify(&["--allowed-signers", &allowed]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["bundles"].as_array().unwrap().len(), 3);
}
