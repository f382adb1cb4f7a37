"""The redaction corpus: secret forms that must be masked and look-alikes that must not.

Each form is (category, argv, env, secret): the exec's argv and env, and the secret
text that must appear in neither once redacted.  The categories are the ones
docs/configuration.md documents; tests/test_rules_redact.py runs every form and the
reliability report (bench/reliability.py) counts forms tried, leaks and false positives.
"""

from __future__ import annotations

S = "Zq7Secret9x"  # the secret in every form: distinctive, so a leak is a substring test

FORMS: list[tuple[str, list[str], list[str], str]] = [
    # client flags, attached or separate, where the option is a password
    ("client-flag", ["/usr/local/bin/mysql", "-u", "root", f"-p{S}", "db"], [], S),
    ("client-flag", ["mysqldump", f"-p{S}", "--all-databases"], [], S),
    ("client-flag", ["sshpass", "-p", S, "ssh", "host"], [], S),
    ("client-flag", ["sshpass", f"-p{S}", "ssh", "host"], [], S),
    ("client-flag", ["redis-cli", "-a", S, "ping"], [], S),
    ("client-flag", ["mongosh", "-u", "admin", "-p", S], [], S),
    ("client-flag", ["zip", "-P", S, "out.zip", "f"], [], S),
    ("client-flag", ["7z", "a", f"-p{S}", "out.7z"], [], S),
    ("client-flag", ["ldapsearch", "-D", "cn=admin", "-w", S], [], S),
    ("client-flag", ["docker", "login", "-u", "me", "-p", S, "registry.example.com"], [], S),
    ("client-flag", ["htpasswd", "-bc", ".htpasswd", "bob", S], [], S),
    ("client-flag", ["sudo", "-u", "root", "mysql", f"-p{S}"], [], S),
    # user:password in -u options and in URL userinfo
    ("userinfo", ["curl", "-u", f"bob:{S}", "https://example.com"], [], S),
    ("userinfo", ["curl", f"-ubob:{S}", "https://example.com"], [], S),
    ("userinfo", ["curl", f"--user=bob:{S}", "https://example.com"], [], S),
    ("userinfo", ["smbclient", "//srv/share", "-U", f"bob%{S}"], [], S),
    ("userinfo", ["git", "clone", f"https://bob:{S}@github.com/o/r.git"], [], S),
    ("userinfo", ["git", "clone", f"https://bob:pa/{S}@github.com/o/r.git"], [], S),
    ("userinfo", ["git", "clone", f"https://bob:p@{S}@github.com/o/r.git"], [], S),
    ("userinfo", ["git", "clone", f"https://ghp_{S}abcdefghij@github.com/o/r.git"], [], S),
    ("userinfo", ["mount_smbfs", f"//bob:{S}@server/share", "/Volumes/share"], [], S),
    ("userinfo", ["psql", f"postgresql://app:{S}@db:5432/app"], [], S),
    # auth headers in one or two arguments
    ("auth-header", ["curl", "-H", f"Authorization: Bearer {S}", "https://api"], [], S),
    ("auth-header", ["curl", "-H", "Authorization:", f"Bearer {S}", "https://api"], [], S),
    ("auth-header", ["curl", "-H", "Authorization: Bearer", S, "https://api"], [], S),
    ("auth-header", ["curl", "--header", f"X-Api-Key: {S}", "https://api"], [], S),
    ("auth-header", ["curl", "-H", f"Cookie: session={S}", "https://api"], [], S),
    ("auth-header", ["http", "GET", "https://api", f"Authorization:Bearer {S}"], [], S),
    ("auth-header", ["git", "-c", f"http.extraHeader=Authorization: Basic {S}", "fetch"], [], S),
    # --password/--token/--secret/--api-key/--client-secret/--auth-token, = and two-argument
    ("long-option", ["mysql", f"--password={S}"], [], S),
    ("long-option", ["gh", "--token", S], [], S),
    ("long-option", ["vault", f"--secret={S}"], [], S),
    ("long-option", ["tool", "--api-key", S], [], S),
    ("long-option", ["tool", f"--api_key={S}"], [], S),
    ("long-option", ["tool", "--client-secret", S], [], S),
    ("long-option", ["tool", f"--client_secret={S}"], [], S),
    ("long-option", ["tool", "--auth-token", S], [], S),
    ("long-option", ["tool", f"-password={S}"], [], S),
    ("long-option", ["keytool", "-storepass", S, "-keystore", "ks.jks"], [], S),
    # macOS tools that take passwords
    ("macos-tool", ["security", "add-generic-password", "-a", "me", "-s", "svc", "-w", S], [], S),
    ("macos-tool", ["security", "unlock-keychain", "-p", S, "login.keychain"], [], S),
    ("macos-tool", ["security", "import", "key.p12", "-P", S], [], S),
    ("macos-tool", ["dscl", ".", "-passwd", "/Users/bob", S], [], S),
    ("macos-tool", ["dscl", ".", "-passwd", "/Users/bob", "old", S], [], S),
    ("macos-tool", ["dscl", "-u", "admin", "-P", S, ".", "-read", "/Users/bob"], [], S),
    ("macos-tool", ["sysadminctl", "-addUser", "bob", "-password", S], [], S),
    ("macos-tool", ["sysadminctl", "-resetPasswordFor", "bob", "-newPassword", S, "-adminPassword", "x"], [], S),
    ("macos-tool", ["networksetup", "-setairportnetwork", "en0", "Office", S], [], S),
    # pass:-style specifiers
    ("pass-spec", ["openssl", "rsa", "-in", "k.pem", "-passin", f"pass:{S}"], [], S),
    ("pass-spec", ["openssl", "pkcs12", "-export", "-passout", f"pass:{S}"], [], S),
    # JVM -D...password=
    ("jvm-property", ["java", f"-Djavax.net.ssl.keyStorePassword={S}", "-jar", "app.jar"], [], S),
    ("jvm-property", ["java", f"-Ddb.password={S}", "-jar", "app.jar"], [], S),
    # secrets inside sh -c '...' strings
    ("shell-string", ["sh", "-c", f"mysql -p{S} db < dump.sql"], [], S),
    ("shell-string", ["bash", "-lc", f"export GITHUB_TOKEN={S}; make release"], [], S),
    ("shell-string", ["zsh", "-c", f"curl -H 'Authorization: Bearer {S}' https://api"], [], S),
    ("shell-string", ["sh", "-c", f"sshpass -p '{S}' ssh host uptime"], [], S),
    ("shell-string", ["ssh", "host", f"PGPASSWORD={S} psql -h db"], [], S),
    # environment names in any case, with - or ., and known secret names
    ("env-name", ["/usr/bin/true"], [f"GITHUB_TOKEN={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"github-token={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"db.password={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"MYSQL_PWD={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"SSHPASS={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"PGPASSWORD={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"SLACK_BOT_TOKEN={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"AWS_SESSION_TOKEN={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"OP_SESSION_myaccount={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"npm_config__authToken={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"AWS_SECRET_ACCESS_KEY={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"OPENAI_API_KEY={S}"], S),
    ("env-name", ["/usr/bin/true"], [f"DATABASE_URL=postgres://app:{S}@db/app"], S),
    ("env-name", ["/usr/bin/true"], [f"REDIS_URL=redis://:{S}@cache:6379/0"], S),
    ("env-name", ["env", f"GH_TOKEN={S}", "gh", "pr", "list"], [], S),
    ("env-name", ["npm", "config", "set", f"//registry.npmjs.org/:_authToken={S}"], [], S),
    ("env-name", ["curl", f"https://api.example.com/v1?user=bob&access_token={S}&page=2"], [], S),
    # private-key material
    ("private-key", ["/usr/bin/true"], [f"SIGNING_KEY=-----BEGIN PRIVATE KEY-----\nMII{S}\n-----END PRIVATE KEY-----"], S),
    ("private-key", ["echo", f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blb{S}\n-----END OPENSSH PRIVATE KEY-----"], [], S),
]

# Things that look like secrets but are not: they must come out unchanged.
LOOKALIKES: list[tuple[list[str], list[str]]] = [
    (["ssh", "-p", "2222", "host"], []),
    (["scp", "-P", "2222", "f", "host:"], []),
    (["tar", "-xpf", "archive.tar"], []),
    (["cp", "-p", "a", "b"], []),
    (["mkdir", "-p", "/tmp/x"], []),
    (["rsync", "-avp", "src/", "dst/"], []),
    (["psql", "-p", "5432", "-U", "app"], []),
    (["mysql", "-p", "dbname"], []),  # -p alone prompts; the next argument is the database
    (["docker", "run", "-p", "8080:80", "-u", "1000:1000", "nginx"], []),
    (["security", "find-generic-password", "-s", "svc", "-w"], []),
    (["tool", "--user=", "x"], []),
    (["tool", "--user=bob"], []),
    (["tool", "--password-file", "/run/secrets/db"], []),
    (["docker", "login", "--password-stdin", "-u", "me"], []),
    (["git", "clone", "ssh://git@github.com/o/r.git"], []),
    (["git", "clone", "git@github.com:o/r.git"], []),
    (["open", "https://mastodon.social/@someone"], []),
    (["ls", "-la", "/tmp"], []),
    (["/usr/bin/true"], ["TOKENIZERS_PARALLELISM=false"]),
    (["/usr/bin/true"], ["PWD=/Users/a", "OLDPWD=/"]),
    (["/usr/bin/true"], ["SSH_AUTH_SOCK=/private/tmp/com.apple.launchd.x/Listeners"]),
    (["/usr/bin/true"], ["GIT_ASKPASS=/usr/local/bin/askpass", "SUDO_ASKPASS=/x"]),
    (["/usr/bin/true"], ["TERM_SESSION_ID=w0t0p0:8E1B", "SECURITYSESSIONID=186a5"]),
    (["/usr/bin/true"], ["PATH=/usr/bin:/bin", "HOME=/Users/a", "LANG=en_US.UTF-8"]),
    (["/usr/bin/true"], ["DOCKER_HOST=unix:///var/run/docker.sock"]),
    (["/usr/bin/true"], ["HTTP_PROXY=http://proxy:3128"]),
]
