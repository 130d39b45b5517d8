"""Content policies: a corpus of real-looking (fake, format-valid) secrets and of near-misses."""

from __future__ import annotations

import base64
import uuid

import msgspec
import pytest

from devlog_collector.export.content import ContentPolicy, apply_policy, default_redactor
from devlog_shared import GitInfo
from tests.collector.export.helpers import make_events

# Obviously fake values in the real formats (built by concatenation so no scanner flags this file).
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GH = "ghp_" + "1234567890abcdefghijABCDEFGHIJ123456"
GH_FINE = "github_pat_" + "11ABCDEFG0123456789_" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
GITLAB = "glpat-" + "abcdefghij0123456789"
SLACK = "xoxb-" + "123456789012-1234567890123-" + "abcdefghijklmnopqrstuvwx"
SLACK_HOOK = "https://hooks.slack.com/services/" + "T00000000/B00000000/" + "XXXXXXXXXXXXXXXXXXXXXXXX"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_LONG = "sk_live_" + "51HqLmN2eZvKYlo2C8xR7tPq9" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijklmnop"
OPENAI = "sk-proj-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"
OPENAI_OLD = "sk-" + "abcdefghijklmnopqrst" + "T3BlbkFJ" + "abcdefghijklmnopqrst"
ANTHROPIC = "sk-ant-api03-" + "abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFGHIJ_klmnop"
GOOGLE = "AIza" + "SyA-1234567890abcdefghijklmnopqrstu"
SENDGRID = "SG." + "abcdefghijklmnopqrstuv" + "." + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PYPI = "pypi-AgEIcHlwaS5vcmc" + "A" * 70
NPM = "//registry.example.org/:_authToken=" + "npm_" + "abcdefghijklmnopqrstuvwxyz0123456789"
NPM_BARE = "npm_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed9Cb8A"[:36]
HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIj"[:34]
DO_TOKEN = "dop_v1_" + "0123456789abcdef" * 4
SHOPIFY = "shpat_" + "0123456789abcdef" * 2
LINEAR = "lin_api_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd"
POSTMAN = "PMAK-" + "0123456789abcdef01234567" + "-" + "0123456789abcdef0123456789abcdef01"
DOCKER = "dckr_pat_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0"
GRAFANA = "glsa_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345" + "_" + "0a1b2c3d"
VAULT = "hvs." + "CAESIAbCdEfGhIjKlMnOpQrStUvWxYz"
DATABRICKS = "dapi" + "0123456789abcdef" * 2
AGE_KEY = "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" + "QPZRY9X8GF2TVDW0S3JN54KHCE"
BASIC = base64.b64encode(b"deploy:Tr0ub4dor&3").decode()
PRIVATE_KEY = (
    "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9Fj0sAmPlEfakefakefake\nZm9vYmFyYmF6\n"
    "-----END " + "RSA PRIVATE KEY-----"
)
AZURE_CONNECTION = (
    "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=AbCdEfGh0123456789abcdefGHIJKLMNopqrstuvwxyz="
)
OPENSSH_KEY = (
    "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAA\n-----END OPENSSH PRIVATE KEY-----"
)

SECRETS = [
    ("aws-access-key", f"export AWS_ACCESS_KEY_ID_X={AWS_ID}", AWS_ID),
    ("aws-secret-key", f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET),
    ("env-secret", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    ("github-token", f"git clone https://{GH}@github.com/acme/app.git", GH),
    ("github-token", f"token: {GH_FINE}", GH_FINE),
    ("gitlab-token", f"GL={GITLAB} in CI", GITLAB),
    ("slack-token", f"curl -H 'Authorization: {SLACK}'", SLACK),
    ("slack-token", f"webhook {SLACK_HOOK}", "XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("stripe-key", f"stripe.api_key = {STRIPE}", STRIPE),
    ("openai-key", f"OPENAI={OPENAI}", OPENAI),
    ("openai-key", f"key {OPENAI_OLD} here", OPENAI_OLD),
    ("anthropic-key", f"ANTHROPIC_API_KEY is {ANTHROPIC}", ANTHROPIC),
    ("google-api-key", f"maps?key={GOOGLE}&q=x", GOOGLE),
    ("sendgrid-key", f"SENDGRID {SENDGRID}", SENDGRID),
    ("jwt", f"the session was {JWT}", JWT),
    ("cookie", f"cookie: session={JWT}", JWT),
    ("pypi-token", f"password = {PYPI}", PYPI),
    ("npm-token", NPM, "npm_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("private-key", f"here is the key:\n{PRIVATE_KEY}\nthanks", "MIIEowIBAAKCAQEA7bq9Fj0sAmPlEfakefakefake"),
    ("private-key", OPENSSH_KEY, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAA"),
    ("url-password", "postgres://app:hunter2secret@db.internal:5432/app", "hunter2secret"),
    ("url-password", "DATABASE_URL=mysql://root:S3cr3t!pass@localhost/db", "S3cr3t!pass"),
    ("env-secret", "DB_PASSWORD=correct-horse-battery", "correct-horse-battery"),
    ("env-secret", "export API_TOKEN='tok_live_998877665544'", "tok_live_998877665544"),
    ("password-field", '{"username": "bob", "password": "pa55word!x"}', "pa55word!x"),
    ("bearer-token", "Authorization: Bearer abcdef0123456789ABCDEF.xyz", "abcdef0123456789ABCDEF.xyz"),
    ("url-password", "redis://:cachepw-9876@cache.internal:6379/0", "cachepw-9876"),
    ("url-password", "mysql://root:p@ss-w0rd-x@db.internal/app", "ss-w0rd-x"),
    ("env-secret", "then run: export API_KEY=abcd1234efgh and retry", "abcd1234efgh"),
    ("env-secret", "cd app; DB_TOKEN=tok-5566778899 ./serve", "tok-5566778899"),
    ("config-secret", "database:\n  DATABASE_PASSWORD: hunter2hunter2\n", "hunter2hunter2"),
    ("config-secret", "auth:\n  client_secret: 'c-9f8e7d6c5b4a'  # rotated\n", "c-9f8e7d6c5b4a"),
    ("stripe-key", f"STRIPE={STRIPE_LONG}", STRIPE_LONG[30:]),  # the whole key, not its first 24 characters
    ("stripe-key", "rk_live_" + "51HqLmN2eZvKYlo2C8xR7tPq9AbCdEfGh", "AbCdEfGh"),
    ("env-secret", "*** Update File: .env\n+SECRET_KEY=tok_9f8e7d6c5b4a3210\n", "tok_9f8e7d6c5b4a3210"),  # a patch line
    ("env-secret", "-DB_PASSWORD=OldDbPass123xyz\n", "OldDbPass123xyz"),
    ("config-secret", "+  password: Tr0ub4dor-and-3\n", "Tr0ub4dor-and-3"),
    ("env-secret", "PGPASSWORD=hunter22x psql -h db", "hunter22x"),
    ("env-secret", "DB_PASS=plainDbPass42", "plainDbPass42"),
    ("config-secret", "X-Api-Key: 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
    ("url-signature", "https://api.example.com/cb?access_token=ya29.a0AfH6SMBxyz1234567890&x=1", "ya29.a0AfH6SMBxyz"),
    ("basic-auth", "curl -H 'Authorization: Basic " + BASIC + "' https://api.example.com", BASIC),
    ("cli-password", "curl -sS -u deploy:Tr0ub4dor3x https://ci.example.com/api", "Tr0ub4dor3x"),
    ("cli-password", "curl --user=admin:s3cr3t-admin -X POST https://x.example.com", "s3cr3t-admin"),
    ("cli-password", "mysql -h db.internal -u root -pS3cretRootPw app < dump.sql", "S3cretRootPw"),
    ("cli-password", "mysqldump -uroot -pHunter2Db --all-databases > all.sql", "Hunter2Db"),
    ("cli-password", "sshpass -p 'Sup3rSecret' ssh deploy@host", "Sup3rSecret"),
    ("npm-token", "npm config set //r.example.org/:_auth " + NPM_BARE + " && echo " + NPM_BARE, NPM_BARE),
    ("huggingface-token", "HF login with " + HF_TOKEN + " worked", HF_TOKEN),
    ("digitalocean-token", "doctl auth init -t " + DO_TOKEN, DO_TOKEN),
    ("shopify-token", "X-Shopify-Access-Token " + SHOPIFY, SHOPIFY),
    ("linear-key", "the Linear key " + LINEAR + " expired", LINEAR),
    ("postman-key", "postman login --with-api-key " + POSTMAN, POSTMAN),
    ("docker-token", "docker login -u me --password-stdin <<< " + DOCKER, DOCKER),
    ("grafana-token", "grafana token " + GRAFANA, GRAFANA),
    ("vault-token", "VAULT said " + VAULT + " (root)", VAULT),
    ("databricks-token", "databricks configure with " + DATABRICKS, DATABRICKS),
    ("age-secret-key", "# key\n" + AGE_KEY + "\n", AGE_KEY),
    # NAME=value inside brackets, quotes and code, followed by a quote, `)`, `;` or `,`.
    ("env-secret", "The DB password is X (DB_PASSWORD=Hunter2Hunter2Zz9), url", "Hunter2Hunter2Zz9"),
    ("env-secret", 'echo "API_TOKEN=Zq8vLmN3pR7tY2wK" >> .env', "Zq8vLmN3pR7tY2wK"),
    ("env-secret", 'docker run -e "DB_PASSWORD=Qw3rTy9UiOp4AsDf" app', "Qw3rTy9UiOp4AsDf"),
    ("env-secret", "const SECRET_KEY = 'sk9f8e7d6c5b';", "sk9f8e7d6c5b"),
    ("env-secret", 'let authToken = "tok-0a9b8c7d6e";', "tok-0a9b8c7d6e"),
    ("env-secret", "x=$(DB_PASSWORD=pw-1122334455 ./cli)", "pw-1122334455"),
    ("env-secret", "(export API_KEY=ak-99887766554433)", "ak-99887766554433"),
    ("env-secret", '"env": ["DB_PASSWORD=envpw-4455667788"]', "envpw-4455667788"),
    ("env-secret", '    environment:\n      - "DB_PASSWORD=composepw-123456"\n', "composepw-123456"),
    ("env-secret", "x DB_PASSWORD=commapw-98765, y", "commapw-98765"),
    # A `#` inside a value is not a comment (shell, .env and YAML start one after a blank only);
    # quoted values end at their quote, spaces included.
    ("env-secret", "DB_PASSWORD=abc#Secret99", "abc#Secret99"),
    ("env-secret", "export DB_PASSWORD=Tr0ub#4dor&3", "4dor&3"),
    ("env-secret", 'export DB_PASSWORD="Tr0ub4dor 3xyz"', "Tr0ub4dor 3xyz"),
    ("env-secret", "DB_PASSWORD='my pass phrase 1'", "my pass phrase 1"),
    ("env-secret", "PASSWORD=abc;def123", "def123"),
    ("env-secret", "kubectl create secret generic db --from-literal=password=KubePw123", "KubePw123"),
    ("config-secret", "Username: admin\nPassword: LabelPass#42", "LabelPass#42"),
    # Vendor formats a new-user pass found sent in clear.
    ("xai-key", "XAI_KEY is xai-" + "Ab1" * 28 + " (staging)", "xai-" + "Ab1" * 28),
    ("google-oauth-token", "curl -H 'X-Goog: ya29.a0AfB_" + "byQ9" * 20 + "' ...", "ya29.a0AfB_" + "byQ9" * 20),
    # `name: value` in prose, with more text after it on the line (a new-user pass: sent in clear)
    ("inline-secret", "here is the config -> password: Zx9qLm2Rt7vB (turn 0)", "Zx9qLm2Rt7vB"),
    ("inline-secret", "my api_key: q8Wz3kP9vL2mN7xR4tY6 for staging", "q8Wz3kP9vL2mN7xR4tY6"),
    ("inline-secret", "set DB_PASSWORD: hunter22 and restart", "hunter22"),
    ("config-secret", 'password: "Label Pass#42"', "Label Pass#42"),
    ("config-secret", "db:\n  password: p@ss,word!23  # rotated\n", "word!23"),
    # One-line JSON and code: the key names the secret, whatever the layout.
    ("secret-field", '{"refresh_token": "1//0gLkq8HxJv2mN7bR4tY6pW9zQ3sE5dF0aC8uI"}', "0gLkq8HxJv2mN7bR4tY6pW9z"),
    ("secret-field", '{"accessKeyId": "x", "secretAccessKey": "9dRkT3p+Vx7wQz2LmN8bYc4Hs6Jf1Ga0EiUoKq5W"}', "9dRkT3p"),
    ("secret-field", 'resp = {"token": "9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a", "ok": true}', "9b1d3f5a7c9e"),
    ("secret-field", "x = {'auth_token': 'tok-55aa66bb77cc'}", "tok-55aa66bb77cc"),
    ("secret-field", 'headers={"X-API-KEY": "3c6e0b8a9c15224a8228b9a98ca1531d"}', "3c6e0b8a9c15224a"),
    ("secret-field", 'log: {"password": "ab\\"cdXYZ123"} sent', "cdXYZ123"),
    ("header-secret", "curl -H 'x-api-key: 3c6e0b8a9c15224a8228b9a98ca1531d' https://x", "3c6e0b8a9c15224a"),
    ("header-secret", "curl --header 'X-Auth-Token: 77aa88bb99cc00dd' https://x", "77aa88bb99cc00dd"),
    ("authorization", '{"headers": {"Authorization": "Token 8f14e45fceea167a5a36dedd4bea2543"}}', "8f14e45fceea"),
    ("devlog-key", "tried the token dvl_" + "6GxxQ9BKwZBn_SOIaohq9wUzVShjL5AK3kQnHmZCKqMnQ directly", "SOIaohq9wUz"),
    ("cli-secret", "mongosh --username admin --password Mong0Pass99x --host db", "Mong0Pass99x"),
    ("env-secret", "psql --password=PgCliPass77 -h db", "PgCliPass77"),
    ("cli-secret", "deploy --client-secret 'cs-1234abcd5678' --env prod", "cs-1234abcd5678"),
    ("cli-secret", "redis-cli -h cache.internal -a R3disP4ssw0rdX ping", "R3disP4ssw0rdX"),
    ("cli-secret", "htpasswd -b -c .htpasswd admin HtPass123", "HtPass123"),
    ("cli-secret", "aws configure set aws_secret_access_key 9dRkT3p+Vx7wQz2LmN8bYc4Hs6Jf1Ga0EiUoKq5W", "Vx7wQz2L"),
    ("sql-password", "ALTER USER app WITH PASSWORD 'SqlAlterPw9';", "SqlAlterPw9"),
    ("sql-password", "CREATE ROLE devlog LOGIN PASSWORD 'RoleCreatePw';", "RoleCreatePw"),
    ("sql-password", "CREATE USER 'u'@'%' IDENTIFIED BY 'MyS3cret!';", "MyS3cret!"),
    ("pgpass", "db.internal:5432:app:appuser:PgpassLinePw9", "PgpassLinePw9"),
    ("netrc", "machine api.heroku.com\n  login me@x.com\n  password 01234567-89ab-cdef", "01234567-89ab-cdef"),
    # A setting about a secret first does not hide the secret after it (Azure connection strings).
    ("env-secret", AZURE_CONNECTION, "AbCdEfGh0123456789"),
    ("env-secret", "TOKEN_TYPE=bearer;ACCESS_TOKEN=AbCdEf1234567890xyz", "AbCdEf1234567890xyz"),
    ("env-secret", "https://x.io/api?token_type=key&api_key=AbCdEf1234567890xyz", "AbCdEf1234567890xyz"),
    ("env-secret", "//npm.registry.example/:_auth=dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw"),
    ("env-secret", "APP_KEY=base64:q7Jx0m3Rn1Zt6kLw9s2Xv5Yb8Pc4Hd0Ge7Ff1Ia3Jb6=", "q7Jx0m3Rn1Zt6kLw9s2X"),
    ("cli-password", "curl -u me@acme.io:ATAT-jira-token-12345 https://acme.atlassian.net", "ATAT-jira-token-12345"),
    ("basic-auth", "headers = {'Authorization': 'Basic " + BASIC + "'}", BASIC),
    ("url-signature", "https://b.s3.example.com/k?X-Amz-Date=2026&X-Amz-Signature=0a1b2c3d4e5f60718293", "0a1b2c3d4e"),
    ("url-signature", "https://acct.blob.core.windows.net/c/f?sv=2024&sig=AbCdEf%2B123456789%3D", "AbCdEf%2B1234"),
    ("url-signature", "http://localhost/cb#access_token=ya29.AbCdEfGhIj123&token_type=Bearer", "ya29.AbCdEfGhIj123"),
    ("cookie", "Cookie: session=9f8e7d6c5b4a39281706; theme=dark", "9f8e7d6c5b4a39281706"),
    ("private-key", "  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt", "LS0tLS1CRUdJTiBSU0E"),
    ("docker-config", ".dockerconfigjson: eyJhdXRocyI6eyJnaGNyLmlvIjp7ImF1dGgiOiJkWE5sY2pwbmF9fX0=", "eyJhdXRoc"),
    ("xml-secret", "<server><id>repo</id><password>MvnRepoPw123</password></server>", "MvnRepoPw123"),
    ("config-secret", '<add key="ApiKey" value="dotnet-9f8e7d6c5b4a" />', "dotnet-9f8e7d6c5b4a"),
    ("config-secret", "define('DB_PASSWORD', 'WpConfigPw9x');", "WpConfigPw9x"),
    ("secret-field", "$db = ['password' => 'PhpArrayPw7z'];", "PhpArrayPw7z"),
    ("webhook-url", "https://discord.com/api/webhooks/1234567/AbCdEfGhIjKlMnOpQrStUvWxYz-012345", "AbCdEfGhIjKl"),
    ("cli-secret", "docker login -u me -p DockerHubPw1 registry.example.org", "DockerHubPw1"),
    ("cli-secret", "ldapsearch -x -D cn=admin,dc=acme -w LdapAdminPw1 -b dc=acme", "LdapAdminPw1"),
    ("cli-secret", "openssl pkcs12 -export -in c.pem -out c.p12 -passout pass:P12ExportPw", "P12ExportPw"),
    ("cli-secret", "gh secret set NPM_TOKEN --body 'gh-secret-value-123'", "gh-secret-value-123"),
    ("sql-password", "CREATE USER 'u'@'%' IDENTIFIED WITH caching_sha2_password BY 'Mysql8Pw!';", "Mysql8Pw!"),
    ("stripe-webhook-secret", "the endpoint secret is whsec_" + "AbCdEfGhIjKlMnOpQrStUvWx12", "AbCdEfGhIjKlMnOp"),
    ("mailgun-key", "api:key-" + "3ax6xnjp29jd6fds4gc373sgvjxteol0", "3ax6xnjp29jd6fds4gc373sgvjxteol0"),
]

NEAR_MISSES = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the parser",
    f"request id {uuid.UUID(int=0x1234567890ABCDEF1234567890ABCDEF)} failed",
    "payload: " + base64.b64encode(b"The quick brown fox jumps over the lazy dog, twice over.").decode(),
    "Please enter your password in the login form, then reset the token cache.",
    "The password policy requires 12 characters; the API key rotates monthly.",
    "Use `git log --format=%H` to print SHAs like 9fceb02d0ae598e95dc970b74767f19372d61af8.",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "password = os.environ['DB_PASSWORD']",
    "token = get_token()",
    "Visit https://example.org/docs/auth#tokens for details",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC user@host is a PUBLIC key",
    "def authorize(bearer: str) -> None: ...",
    "Skipping: AKIA is the prefix of AWS access key ids",
    "sk-learn is spelled scikit-learn",
    "SECRET_KEY=${SECRET_KEY}",
    "The Stripe test mode uses keys starting with sk_test_ (never commit them).",
    "password: required",
    "The token: expired yesterday, so refresh it",
    "auth_method: oauth2 is what we use; secret_path: /etc/app/secret2.txt",
    "Set the password: https://example.org/reset2 explains it",
    "token: null",
    "  secret: ${APP_SECRET}",
    "The password: use a long one",
    "ssh://git@github.com:22/acme/app and mail dev@example.org",
    # Settings about secrets, and words that only contain a secret word, are not secrets.
    "max_tokens = 4096",
    "MAX_TOKENS=4096",
    "max_tokens: 4096",
    "git log --author=alice --since=yesterday",
    "GIT_AUTHOR_NAME=jdoe",
    "author: jdoe",
    "tokenizer: cl100k_base",
    "token_type: bearer",
    "auth_method: oauth2",
    "ACCESS_TOKEN_TTL=3600",
    "secretName: db-credentials",
    "PASSWORD_MIN_LENGTH=12",
    "api_key_header: X-Api-Key",
    # Prefixes and options that only look like the command-line and token rules.
    "git push -u origin main && curl https://example.org/health",
    "docker run -u 1000:1000 image; curl -u user https://example.org (prompts)",
    "mysql -u root -p app   # -p alone prompts for the password",
    "mysql --protocol=tcp -P 3306 -h db app",
    "export npm_config_cache=/tmp/npm; hf_hub_download(repo_id='x')",
    "The Authorization: Basic scheme sends base64 of user:password",
    "dapi is short for data API; shpat_ prefixes Shopify tokens",
    # Settings about secrets in JSON and code, and options that only name one.
    '{"token_type": "bearer", "expires_in": 3600, "max_tokens": 4096, "input_tokens": 1234}',
    '{"secretName": "db-credentials", "password": "", "token": null, "auth_method": "oauth2"}',
    '{"password": "<your-password>", "api_key": "${API_KEY}", "token": "undefined"}',
    'git commit -m "fix token: refresh on 401"',
    "answer = input('Password: ')",
    "def login(token: str = DEFAULT) -> None: ...",
    "gh auth login --with-token < token.txt; curl --token-file ~/.tok https://x",
    "docker login -u me --password-stdin < ~/pw.txt",
    "cat /etc/passwd | grep root:x:0:0:root:/root:/bin/bash",
    "ALTER USER app WITH PASSWORD NULL; -- reset the password later",
    '{"authorization_url": "https://example.org/oauth/authorize", "token_url": "https://example.org/t"}',
    # Code that handles secrets without holding one.
    "client = OpenAI(api_key=api_key)",
    "self.password = password",
    "requests.get(url, auth=auth)",
    "api_key = settings.API_KEY",
    "const token = await getToken();",
    "const key = process.env.API_KEY;",
    "  password: process.env.DB_PASSWORD,",
    "  password: z.string().min(8),",
    "AUTH_USER_MODEL = 'accounts.User'",
    "AUTH_DOMAIN=acme.auth0.com",
    'PASSWORD="$DB_PASSWORD"',
    "PWD=/home/dev/work/api",
    "cache_key = f'user:{uid}'",
    # Code read by an agent (a corpus of installed packages masked these before).
    "token = Name",
    "self._token = value",
    "final_token = token",
    'SECRET = "%(secret)s";',
    'Token:              "#cccccc",',
    "    cookie: str | None = None,",
    "    token: str,",
    '(icon, style), ("Auth: ", Style(color="bright_white", bold=True))',
    '"password": "string",',
    'for token: "{self.token_string}"',
]


@pytest.mark.parametrize(("label", "text", "secret"), SECRETS, ids=[f"{i}-{s[0]}" for i, s in enumerate(SECRETS)])
def test_each_secret_is_masked_with_its_label(label: str, text: str, secret: str) -> None:
    redacted, count = default_redactor().redact(text)
    assert secret not in redacted
    assert count >= 1
    assert f"[REDACTED:{label}]" in redacted


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_stay_intact(text: str) -> None:
    redacted, count = default_redactor().redact(text)
    assert (redacted, count) == (text, 0)


def test_an_npm_token_is_masked_without_the_rest_of_its_line() -> None:
    """detect-secrets' npm rule ends in `.*`: the words after the token were lost."""
    redacted, count = default_redactor().redact(NPM + " end (turn 0)")
    assert redacted == "//registry.example.org/:_authToken=[REDACTED:npm-token] end (turn 0)" and count == 1


def test_a_json_document_has_the_values_of_secret_named_keys_masked_whatever_they_hold() -> None:
    """A tool call's input decoded as JSON: the key says it is a secret, even a value no rule knows."""
    from devlog_collector.export.content import _redact_text

    document = msgspec.json.encode(
        {"client_id": "app-42", "refresh_token": "plain words 12", "nested": [{"db_password": "x y z w"}],
         "max_tokens": "4096", "token_type": "bearer"}
    ).decode()  # fmt: skip
    redacted, count = _redact_text(default_redactor(), document)
    assert msgspec.json.decode(redacted) == {
        "client_id": "app-42", "refresh_token": "[REDACTED:secret-field]",
        "nested": [{"db_password": "[REDACTED:secret-field]"}], "max_tokens": "4096", "token_type": "bearer",
    }  # fmt: skip
    assert count == 2


def test_redacted_policy_masks_text_and_attrs_and_counts() -> None:
    text = "\n".join(t for _, t, _ in SECRETS[:5]) + "\nand a normal sentence."
    event = make_events(1, ["/w"], text=text, attrs={"cmd": {"argv": ["curl", f"-u user:{STRIPE}"]}, "n": 3})[0]
    shaped = apply_policy(event, "redacted")
    assert shaped.text is not None and "and a normal sentence." in shaped.text
    for _, _, secret in SECRETS[:5]:
        assert secret not in shaped.text
    assert STRIPE not in str(shaped.attrs)
    assert shaped.attrs["n"] == 3
    assert shaped.attrs["redactions"] >= 6
    assert event.text == text  # the stored event is untouched


def test_redacted_policy_masks_secrets_inside_a_json_tool_input() -> None:
    """A tool call's text is its input as JSON: a file's lines are one string there (`\\n`, `\\"`)."""
    files = {
        "config.yaml": "db:\n  password: Tr0ub4dor-and-3\n",
        "creds.json": '{"password": "corr3ct-h0rse-battery"}',
        ".env": "DATABASE_PASSWORD=EnvDbPass123xyz\nDEBUG=1\n",
    }
    [template] = make_events(1, ["/w/app"])
    for name, content in files.items():
        tool_input = {"file_path": f"/w/app/{name}", "content": content}
        event = msgspec.structs.replace(template, kind="tool_call", text=msgspec.json.encode(tool_input).decode())
        sent = apply_policy(event, "redacted")
        assert sent.text is not None
        for secret in ("Tr0ub4dor-and-3", "corr3ct-h0rse-battery", "EnvDbPass123xyz"):
            assert secret not in sent.text, (name, sent.text)
        shown = msgspec.json.decode(sent.text)
        assert shown["file_path"] == f"/w/app/{name}" and "[REDACTED:" in shown["content"]
        assert sent.attrs["redactions"] == 1
    plain = msgspec.structs.replace(template, kind="tool_call", text='{"command": "pytest -q"}')
    assert apply_policy(plain, "redacted") is plain  # nothing to mask: the text is not re-encoded


def test_redacted_policy_leaves_clean_events_identical() -> None:
    event = make_events(1, ["/w"], text=NEAR_MISSES[0])[0]
    assert apply_policy(event, "redacted") is event


def test_metadata_policy_sends_no_text() -> None:
    event = make_events(
        3, ["/w"], text=f"secret plan {GH}", attrs={"stop_reason": "end_turn", "tokens": 5, "output": "ls -la\n..."}
    )[1]
    shaped = apply_policy(event, "metadata")
    assert shaped.text is None and shaped.source is None
    assert shaped.attrs == {"stop_reason": "end_turn", "tokens": 5}
    assert (shaped.id, shaped.kind, shaped.ts, shaped.workspace, shaped.model, shaped.usage) == (
        event.id,
        event.kind,
        event.ts,
        event.workspace,
        event.model,
        event.usage,
    )


def test_full_policy_is_the_event() -> None:
    event = make_events(1, ["/w"], text=GH)[0]
    assert apply_policy(event, "full") is event


@pytest.mark.parametrize("policy", ["full", "redacted", "metadata"])
def test_no_policy_sends_the_credentials_of_a_git_remote(policy: ContentPolicy) -> None:
    """Events stored before the collector cleaned remotes still leave without the token."""
    event = make_events(1, ["/w"], text="hi")[0]
    remote = f"https://alice:{GH}@github.com/acme/api.git"
    event = msgspec.structs.replace(event, git=GitInfo(remote=remote, branch="main", commit="a" * 40))
    shaped = apply_policy(event, policy)
    assert shaped.git == GitInfo(remote="https://github.com/acme/api", branch="main", commit="a" * 40)
    assert GH not in msgspec.json.encode(shaped).decode()
    assert event.git is not None and event.git.remote == remote  # the stored event is untouched


@pytest.mark.parametrize(
    "text",
    [
        "password" * 10_000 + "=x",  # one long run of key characters: a secret word at every 8th
        "password" * 10_000 + ": xxxxxxxx",
        "'" + "x-api-key" * 5_000 + ": " + "y" * 1_000,
        "--" + "password" * 10_000 + " xxxx",
        '"' + "token" * 10_000 + '": "x',
    ],
    ids=["env", "yaml", "header", "cli", "field"],
)
def test_no_rule_backtracks_without_bound(text: str) -> None:
    """Unbounded key patterns tried every split of a long run: 80,000 characters took 32 s. Bounded,
    it takes milliseconds; the limit only catches the quadratic case, not a slow machine."""
    import time

    started = time.perf_counter()
    default_redactor().redact(text)
    assert time.perf_counter() - started < 10
