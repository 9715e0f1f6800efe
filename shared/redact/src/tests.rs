//! Tests of the rules, one table row per published format, and of the streaming writer.

use std::io::Write;

use super::*;

fn key() -> RedactionKey {
    RedactionKey::new(b"test-key-0123456789abcdef".to_vec(), "TEST").expect("long enough")
}

fn all_rules() -> Redactor {
    Redactor::new(
        Policy {
            personal: true,
            ..Policy::default()
        },
        key(),
    )
    .expect("valid policy")
}

/// (rule id, text holding a value, the value that must disappear)
fn positives() -> Vec<(&'static str, String, String)> {
    let gh = format!("ghp_{}", "A1b2C3d4E5".repeat(4).get(..36).unwrap());
    let fine = format!(
        "github_pat_{}_{}",
        "a".repeat(11) + &"B".repeat(11),
        "c9".repeat(29) + "d"
    );
    let gitlab = format!("glpat-{}", "xY3_-z".repeat(4));
    let aws_id = "AKIAIOSFODNN7EXAMPLE".to_owned();
    let aws_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned();
    let gcp = format!(
        "AIza{}",
        "Sy9-_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2"[..35].to_owned()
    );
    let azure_key = format!("{}==", "Ab1+Cd2/".repeat(11).get(..86).unwrap());
    let azure_secret = format!(
        "abc8Q~{}",
        "dEf1.gHi2_jKl3~mNo4-pQr5sTu6vWx7y"[..33].to_owned()
    );
    let slack = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_owned();
    let webhook = format!(
        "https://hooks.slack.com/services/T00000000/B00000000/{}",
        "X".repeat(24)
    );
    let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
    let anthropic = format!("sk-ant-api03-{}", "Zz9_-".repeat(19));
    let openai = format!("sk-proj-{}T3BlbkFJ{}", "a1B2".repeat(6), "c3D4".repeat(6));
    let hf = format!("hf_{}", "aBcDeFgHiJ".repeat(4).get(..34).unwrap());
    let atlassian = format!("ATATT3{}", "xFfGF0Ab".repeat(24));
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".to_owned();
    let pem = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----"
        .to_owned();
    vec![
        ("github-token", format!("token {gh} used"), gh),
        ("github-fine-grained-token", format!("GH={fine}"), fine),
        ("gitlab-token", format!("auth {gitlab} end"), gitlab),
        ("aws-access-key-id", format!("key id {aws_id}."), aws_id),
        (
            "aws-secret-access-key",
            format!("aws_secret_access_key = {aws_secret}"),
            aws_secret,
        ),
        ("gcp-api-key", format!("url?key={gcp}&x=1"), gcp),
        (
            "azure-storage-key",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure_key};EndpointSuffix=core.windows.net"
            ),
            azure_key,
        ),
        (
            "azure-client-secret",
            format!("secret {azure_secret} ok"),
            azure_secret,
        ),
        ("slack-token", format!("SLACK {slack}"), slack),
        ("slack-webhook", format!("post to {webhook} now"), webhook),
        ("stripe-key", format!("stripe {stripe}"), stripe),
        (
            "anthropic-key",
            format!("ANTHROPIC_API_KEY={anthropic}"),
            anthropic,
        ),
        ("openai-key", format!("client({openai})"), openai),
        ("huggingface-token", format!("hf login {hf}"), hf),
        (
            "atlassian-api-token",
            format!("jira {atlassian}"),
            atlassian,
        ),
        ("jwt", format!("Authorization: Bearer {jwt}"), jwt),
        (
            "private-key",
            format!("{{\"private_key\": \"{pem}\\n\"}}"),
            pem,
        ),
        (
            "url-credentials",
            "clone https://bot:hunter2pass@git.example.com/repo".to_owned(),
            "hunter2pass".to_owned(),
        ),
        (
            "password-assignment",
            "db password=Sup3rS3cret! retry".to_owned(),
            "Sup3rS3cret!".to_owned(),
        ),
        (
            "password-assignment",
            "{\"password\": \"p4ss-w0rd\"}".to_owned(),
            "p4ss-w0rd".to_owned(),
        ),
        (
            "password-assignment",
            "WANDB_API_KEY: 'k3y-v4lue'".to_owned(),
            "k3y-v4lue".to_owned(),
        ),
        (
            "high-entropy-assignment",
            "signing_key_material = 9fK2xQ7LmZp4Rt8VwYb3Nc6D".to_owned(),
            "9fK2xQ7LmZp4Rt8VwYb3Nc6D".to_owned(),
        ),
        (
            "email",
            "reported by jane.doe+ai@example.co.uk today".to_owned(),
            "jane.doe+ai@example.co.uk".to_owned(),
        ),
        (
            "phone",
            "call +44 20 7946 0958 please".to_owned(),
            "+44 20 7946 0958".to_owned(),
        ),
        (
            "phone",
            "call (555) 123-4567".to_owned(),
            "(555) 123-4567".to_owned(),
        ),
        (
            "iban",
            "pay GB82 WEST 1234 5698 7654 32 now".to_owned(),
            "GB82 WEST 1234 5698 7654 32".to_owned(),
        ),
        (
            "payment-card",
            "card 4111 1111 1111 1111 exp".to_owned(),
            "4111 1111 1111 1111".to_owned(),
        ),
        (
            "ipv4",
            "from 203.0.113.42 at".to_owned(),
            "203.0.113.42".to_owned(),
        ),
        (
            "ipv6",
            "from 2001:db8::8a2e:370:7334 at".to_owned(),
            "2001:db8::8a2e:370:7334".to_owned(),
        ),
    ]
}

/// Ordinary text each rule must leave alone.
fn negatives() -> Vec<&'static str> {
    vec![
        "ghp_tooshort and github_pat_short",
        "AKIA is a prefix; AKIAIOSFODNN7 too short",
        "the password field is required",
        "password: ${DB_PASSWORD}",
        "token: null",
        "max_tokens=1024 and tokens: 512",
        "password=********",
        "version 1.2.3 of the model; epoch 12, loss 0.3412",
        "order 4111 1111 1111 1112 is not a card",
        "GB82 WEST 1234 5698 7654 33 fails mod-97",
        "300.1.2.3 is not an address",
        "learning_rate: 0.001, batch_size: 32",
        "key: value",
        "commit 9f2c1e7 merged by reviewer",
        "-----BEGIN PUBLIC KEY-----",
        "sk-ant-short",
        "std::vector<int> and a::b",
    ]
}

#[test]
fn every_rule_finds_its_published_format_and_names_itself() {
    let r = all_rules();
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    for (rule, text, value) in positives() {
        let (out, report) = r.redact_str(&text);
        assert!(
            !out.contains(&value),
            "{rule}: {value:?} survived in {out:?}"
        );
        assert!(
            report.redactions.iter().any(|x| x.rule == rule),
            "{rule}: named {:?} for {text:?}",
            report.redactions.iter().map(|x| x.rule).collect::<Vec<_>>()
        );
        covered.insert(rule);
    }
    let all: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(covered, all, "every rule has a positive example");
}

#[test]
fn ordinary_text_is_left_alone() {
    let r = all_rules();
    for text in negatives() {
        let (out, report) = r.redact_str(text);
        assert_eq!(out, text, "changed by {:?}", report.redactions);
    }
}

#[test]
fn personal_data_is_left_alone_unless_the_source_switches_it_on() {
    let secrets_only = Redactor::new(Policy::default(), key()).unwrap();
    let text = "mail jane@example.com from 203.0.113.42";
    assert_eq!(secrets_only.redact_str(text).0, text);
    assert!(!all_rules().redact_str(text).0.contains("jane@example.com"));
}

#[test]
fn the_same_secret_gets_the_same_placeholder_everywhere() {
    let r = all_rules();
    let gh = format!("ghp_{}", "Q".repeat(36));
    let (a, _) = r.redact_str(&format!("first {gh}"));
    let (b, _) = r.redact_str(&format!("{gh} second, and again {gh}"));
    let placeholder = a.strip_prefix("first ").unwrap().to_owned();
    assert!(
        placeholder.starts_with("[REDACTED:github-token:"),
        "{placeholder}"
    );
    assert_eq!(b, format!("{placeholder} second, and again {placeholder}"));
}

#[test]
fn report_ranges_point_at_the_placeholders_in_the_output() {
    let r = all_rules();
    let text = format!(
        "a ghp_{} b\npassword=abcd1234 c jane@example.com\n",
        "Z".repeat(36)
    );
    let (out, report) = r.redact_bytes(text.as_bytes());
    assert_eq!(report.total, 3);
    for x in &report.redactions {
        assert_eq!(
            &out[x.start as usize..x.end as usize],
            x.placeholder.as_bytes()
        );
    }
}

#[test]
fn output_does_not_depend_on_how_the_input_was_chunked() {
    let r = all_rules();
    let mut text = String::new();
    for (_, t, _) in positives() {
        text.push_str(&t);
        text.push('\n');
    }
    text.push_str("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\ntrailing line without newline");
    let (whole, whole_report) = r.redact_bytes(text.as_bytes());
    for chunk in [1, 2, 3, 7, 64, 1000] {
        let mut w = r.writer(Vec::new());
        for piece in text.as_bytes().chunks(chunk) {
            w.write_all(piece).unwrap();
        }
        let (out, report) = w.finish().unwrap();
        assert_eq!(out, whole, "chunks of {chunk}");
        assert_eq!(report, whole_report, "chunks of {chunk}");
    }
}

#[test]
fn a_multi_line_private_key_becomes_one_placeholder() {
    let r = Redactor::new(Policy::default(), key()).unwrap();
    let text = "before\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\nafter\n";
    let (out, report) = r.redact_str(text);
    assert_eq!(report.total, 1);
    assert!(
        !out.contains("MIIEvQ") && !out.contains("BEGIN PRIVATE KEY"),
        "{out}"
    );
    assert!(
        out.starts_with("before\n[REDACTED:private-key:") && out.ends_with("]\nafter\n"),
        "{out}"
    );
}

#[test]
fn an_unterminated_private_key_is_redacted_to_the_end() {
    let r = Redactor::new(Policy::default(), key()).unwrap();
    let (out, _) = r.redact_str("x\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\ntruncated");
    assert!(
        out.starts_with("x\n[REDACTED:private-key:") && !out.contains("MHcC"),
        "{out}"
    );
}

#[test]
fn json_stays_valid_json_after_redaction() {
    let r = all_rules();
    let doc = serde_json::json!({
        "params": {"api_key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "lr": 0.001},
        "user": "jane@example.com",
        "password": "p4ss-w0rd",
        "note": format!("token ghp_{} leaked", "k".repeat(36)),
    });
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let (out, report) = r.redact_str(&text);
    let parsed: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(parsed["params"]["lr"], 0.001);
    assert!(report.total >= 4, "{report:?}");
    assert!(!out.contains("p4ss-w0rd") && !out.contains("4eC39") && !out.contains("jane@"));
}

#[test]
fn redacting_twice_changes_nothing_more() {
    let r = all_rules();
    let mut text = String::new();
    for (_, t, _) in positives() {
        text.push_str(&t);
        text.push('\n');
    }
    let (once, _) = r.redact_str(&text);
    let (twice, report) = r.redact_str(&once);
    assert_eq!(once, twice, "{:?}", report.redactions);
}

#[test]
fn allow_listed_values_pass_through() {
    let fake = "AKIAIOSFODNN7EXAMPLE";
    let r = Redactor::new(
        Policy {
            allow: [fake.to_owned()].into(),
            ..Policy::default()
        },
        key(),
    )
    .unwrap();
    assert_eq!(r.redact_str(&format!("id {fake}")).0, format!("id {fake}"));
}

#[test]
fn a_secret_in_a_line_longer_than_the_buffer_is_still_caught_and_memory_stays_bounded() {
    let r = Redactor::new(Policy::default(), key()).unwrap();
    let gh = format!("ghp_{}", "M".repeat(36));
    let mut w = r.writer(std::io::sink());
    let filler = vec![b'a'; 4096];
    let mut total = 0;
    // 8 MiB on one line with a token every ~1 MiB, straddling write boundaries.
    for i in 0..2048 {
        w.write_all(&filler).unwrap();
        total += filler.len();
        if i % 256 == 255 {
            w.write_all(b" ").unwrap();
            w.write_all(&gh.as_bytes()[..10]).unwrap();
            w.write_all(&gh.as_bytes()[10..]).unwrap();
            w.write_all(b" ").unwrap();
        }
        assert!(
            w.held_back() <= MAX_PENDING + filler.len() + gh.len() + 2,
            "held back {}",
            w.held_back()
        );
    }
    let (_, report) = w.finish().unwrap();
    assert!(total > 8_000_000);
    assert_eq!(report.total, 8);
}

#[test]
fn every_rule_has_an_id_a_version_and_a_description() {
    let mut ids = BTreeSet::new();
    for r in RULES {
        assert!(ids.insert(r.id), "duplicate id {}", r.id);
        assert!(r.version >= 1 && !r.description.is_empty());
        assert!(
            r.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}

#[test]
fn identities_become_their_pseudonyms_as_whole_tokens_only() {
    let r = all_rules();
    let text = "{\"login\": \"ana\", \"approver\": \"ben-ops\"}\nbanana ana.smith ana\n";
    let mut w = r.writer(Vec::new()).with_identities([
        "ana".to_owned(),
        "ben-ops".to_owned(),
        "x".to_owned(),
    ]);
    for chunk in text.as_bytes().chunks(3) {
        w.write_all(chunk).unwrap();
    }
    let (out, report) = w.finish().unwrap();
    let out = String::from_utf8(out).unwrap();
    let ana = key().pseudonym("ana");
    let ben = key().pseudonym("ben-ops");
    assert_eq!(
        out,
        format!("{{\"login\": \"{ana}\", \"approver\": \"{ben}\"}}\nbanana ana.smith {ana}\n")
    );
    assert_eq!(report.total, 3);
    assert!(report.redactions.iter().all(|x| x.rule == PSEUDONYM_RULE));
    serde_json::from_str::<serde_json::Value>(out.lines().next().unwrap()).expect("still JSON");
}

#[test]
fn an_identity_that_is_also_an_email_gets_its_pseudonym() {
    let r = all_rules();
    let (out, _) = {
        let mut w = r
            .writer(Vec::new())
            .with_identities(["jane@example.org".to_owned()]);
        w.write_all(b"owner jane@example.org\n").unwrap();
        w.finish().unwrap()
    };
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("owner {}\n", key().pseudonym("jane@example.org"))
    );
}
