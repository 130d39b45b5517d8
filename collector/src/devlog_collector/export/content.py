"""What of an event leaves the machine: the per-remote content policies and secret redaction.

Policies (`export.remotes.<name>.content`):

Under every policy a git remote leaves in its credential-free form (`https://host/owner/repo`): a
token or password in a remote URL is never sent.

* `full`      the event as stored.
* `redacted`  (default) secrets in `text` and in every string inside `attrs` are replaced by markers
  such as `[REDACTED:github-token]` before the event is encoded for the wire; the number of masks is
  added as `attrs.redactions`. The local store keeps the original (it never leaves the machine).
* `metadata`  no content at all: `text` and `source` are dropped and `attrs` is pruned to scalar
  values (numbers, booleans) and a short allow-list of non-content string keys (`METADATA_ATTR_KEYS`).
  Ids, kinds, times, workspace, project, git, model, usage, cost, tool (name, status, duration) and
  file (path, lines added/removed) are kept.

Redaction rules come from detect-secrets (the collector's dependency): the regexes of its plugins
that match a secret by its own format (AWS, GitHub, GitLab, Slack, Stripe, SendGrid, Twilio, npm,
PyPI, Discord, Telegram, Azure storage, Mailchimp, Square, OpenAI, basic-auth passwords in URLs).
Its keyword and high-entropy plugins are not used: they would mask git SHAs, UUIDs and ordinary
base64. A small documented set of extra patterns covers formats it lacks (Anthropic and current
OpenAI keys, GitHub fine-grained tokens, Google API keys, full JWTs, whole private-key blocks,
`Authorization: Bearer` and `Basic` values, passwords on `curl -u`/`mysql -p`/`sshpass -p` command
lines, prefixed vendor tokens (npm, Hugging Face, DigitalOcean, Shopify, Linear, Postman, Docker,
Grafana, Sentry, Vault, Databricks, age), `.env`-style `PASSWORD=`/`SECRET=`/`TOKEN=`/`API_KEY=` assignments,
YAML-style `password: value` lines, whole Stripe keys, and URL passwords detect-secrets cuts short).
The assignment rules only mask a key that names a secret (`_names_a_secret`: `DB_PASSWORD`, not
`MAX_TOKENS` or `TOKEN_TYPE`). A JSON text (a tool call's input) has the strings inside it redacted
one by one, so a written file's lines are lines to the rules. Each rule may carry a cheap literal
hint so text that cannot contain it skips the regex.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from devlog_collector.workspace import credential_free_git
from devlog_shared.events import Event

__all__ = [
    "METADATA_ATTR_KEYS",
    "ContentPolicy",
    "RedactionRule",
    "Redactor",
    "apply_policy",
    "default_redactor",
]

ContentPolicy = Literal["full", "redacted", "metadata"]

#: String-valued attrs kept under the `metadata` policy (numbers and booleans are always kept).
METADATA_ATTR_KEYS: Final = frozenset(
    {
        "mode",
        "stop_reason",
        "finish_reason",
        "request_id",
        "message_id",
        "provider",
        "model_provider",
        "language",
        "exit_code",
        "status",
        "decision",
        "decision_source",
        "is_sidechain",
        "version",
        "source_format",
        "subagent",
        "agent_id",
        "effort",
        "redactions",
    }
)


@dataclass(frozen=True)
class RedactionRule:
    """One secret format: `label` names it in the marker; `group` is the capture to mask (0 = all)."""

    label: str
    pattern: re.Pattern[str]
    group: int | str = 0
    #: The regex only runs on text containing one of these (lower-cased when `hint_ci`)...
    hints: tuple[str, ...] = ()
    hint_ci: bool = False
    #: ... and each of these (as written).
    requires: tuple[str, ...] = ()
    #: A match is masked only when this says so (None: always).
    accept: Callable[[re.Match[str]], bool] | None = None


def _detect_secrets_rules() -> list[RedactionRule]:
    """The format-specific regexes of detect-secrets' plugins (see the module docstring)."""
    from detect_secrets.plugins import (
        aws,
        azure_storage_key,
        basic_auth,
        discord,
        github_token,
        gitlab_token,
        mailchimp,
        openai,
        pypi_token,
        sendgrid,
        slack,
        square_oauth,
        stripe,
        telegram_token,
        twilio,
    )

    # (marker label, detector, literals one of which any match must contain: a cheap pre-check)
    plugins: list[tuple[str, Any, tuple[str, ...]]] = [
        ("aws-access-key", aws.AWSKeyDetector, ("A3T", "ABIA", "ACCA", "AKIA", "ASIA")),
        ("azure-storage-key", azure_storage_key.AzureStorageKeyDetector, ("AccountKey=",)),
        ("url-password", basic_auth.BasicAuthDetector, ("://",)),
        ("discord-token", discord.DiscordBotTokenDetector, (".",)),
        ("github-token", github_token.GitHubTokenDetector, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
        ("gitlab-token", gitlab_token.GitLabTokenDetector, ("gl", "GR1348941")),
        ("mailchimp-key", mailchimp.MailchimpDetector, ("-us",)),
        ("openai-key", openai.OpenAIDetector, ("T3BlbkFJ",)),
        ("pypi-token", pypi_token.PypiTokenDetector, ("pypi-",)),
        ("sendgrid-key", sendgrid.SendGridDetector, ("SG.",)),
        ("slack-token", slack.SlackDetector, ("xox", "hooks.slack.com")),
        ("square-secret", square_oauth.SquareOAuthDetector, ("sq0csp-",)),
        ("stripe-key", stripe.StripeDetector, ("k_live_",)),
        ("telegram-token", telegram_token.TelegramBotTokenDetector, (":",)),
        ("twilio-key", twilio.TwilioKeyDetector, ("AC", "SK")),
    ]
    rules = []
    for label, detector, hints in plugins:
        for pattern in detector.denylist:
            group = 1 if pattern.groups >= 1 and label == "url-password" else 0
            if label == "aws-access-key" and pattern.groups >= 1:
                rules.append(RedactionRule("aws-secret-key", pattern, 1, ("aws",), hint_ci=True))
                continue
            if label == "twilio-key":
                # Bound it as a word so it cannot fire inside longer identifiers.
                pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{pattern.pattern})(?![A-Za-z0-9])")
            rules.append(RedactionRule(label, pattern, group, hints))
    return rules


_ENV_KEYWORDS = (
    r"(?:PASSWORD|PASSWD|PASSPHRASE|PASS|PWD|SECRET|TOKEN|API[_-]?KEY|ACCESS[_-]?KEY|PRIVATE[_-]?KEY|CREDENTIALS?|AUTH"
    r"|(?:ENCRYPTION|APP|SIGNING|MASTER|LICENSE)[_-]?KEY)"
)
#: Words that make a key name a secret's when they are a whole part of it (`DB_PASSWORD`, `apiKey`,
#: `x-auth-token`), not inside another word (`MAX_TOKENS`, `--author`, `tokenizer`).
_SECRET_WORDS: Final = frozenset({
    "password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "accesskey", "privatekey",
    "credential", "credentials", "auth", "pass", "encryptionkey", "appkey", "signingkey", "masterkey", "licensekey",
})  # fmt: skip
#: Secret words that also count at the end of a longer part (`PGPASSWORD`, `GITHUBTOKEN`).
_GLUED_SECRET_WORDS: Final = ("password", "passwd", "passphrase", "secret", "token", "apikey")
#: A key whose last part is one of these names a setting about a secret, not the secret itself
#: (`TOKEN_TYPE`, `auth_method`, `ACCESS_TOKEN_TTL`, `secretName`, `PASSWORD_MIN_LENGTH`).
_NOT_SECRET_LAST_WORDS: Final = frozenset({
    "type", "method", "name", "url", "uri", "endpoint", "host", "file", "path", "dir", "ttl", "expiry",
    "expires", "expiration", "lifetime", "length", "size", "count", "id", "header", "prefix", "format",
    "kind", "mode", "provider", "scope", "scopes", "version", "enabled", "required", "timeout", "limit",
    "max", "min", "policy", "strategy", "field", "env", "var", "hint", "label", "stdin", "command", "cmd",
    "model", "domain", "realm", "issuer", "audience", "backend", "backends", "class", "module", "handler",
})  # fmt: skip
_KEY_PARTS: Final = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")


def _names_a_secret(match: re.Match[str]) -> bool:
    """Whether a `KEY=value` / `key: value` match is a secret (`is_secret_setting`).

    `name = word` with blanks around `=` and a bare word without digits for a value is an assignment
    in code (`token = Name`, `self._token = value`): a shell or `.env` line has no blanks there, and
    code writes a literal secret in quotes."""
    value = match.group("value")
    quoted = match.string[match.start("value") - 1 : match.start("value")] in ("'", '"')
    if not quoted and _CODE_ASSIGNMENT.search(match.group(0)) and _BARE_WORD.fullmatch(value):
        return False
    return is_secret_setting(match.group("key"), value)


def is_secret_setting(key: str, value: str) -> bool:
    """Whether `key` set to `value` is a secret: a secret word is a whole part of the key, its last
    part is not a setting's (`_NOT_SECRET_LAST_WORDS`), and the value is neither a small number nor
    a placeholder word (`true`, `null`, `required`, ...)."""
    parts = [part.lower() for part in _KEY_PARTS.split(key) if part]
    if not parts or parts[-1] in _NOT_SECRET_LAST_WORDS:
        return False
    joined = {a + b for a, b in itertools.pairwise(parts)}
    glued = any(part.endswith(_GLUED_SECRET_WORDS) for part in parts)  # PGPASSWORD, GITHUBTOKEN
    if not (glued or _SECRET_WORDS.intersection(parts) or _SECRET_WORDS.intersection(joined)):
        return False
    value = value.strip()
    if value.lower() in _PLACEHOLDER_VALUES or value.startswith(("[REDACTED", "$", "<", "{", "%")):
        return False  # (a `{template}`, `%(name)s` or `{self.token}` is code)
    if _HEX_COLOUR.fullmatch(value):
        return False
    if _is_code_reference(key, value) or (parts[-1] in ("pwd", "oldpwd") and value.startswith(("/", "~"))):
        return False  # (`PWD=/home/dev/api` in `env` output is the working folder)
    return not (value.isdigit() and len(value) < 8)  # ports, sizes, TTLs; not a password


#: Words a value of code takes where a secret would be a literal (`const token = await getToken()`).
_CODE_WORDS: Final = frozenset({
    "await", "new", "this", "self", "function", "lambda", "async", "yield", "require", "import", "return",
})  # fmt: skip
_HEX_COLOUR: Final = re.compile(r"#[0-9A-Fa-f]{3,8}")
_CODE_ASSIGNMENT: Final = re.compile(r"[ \t]=|=[ \t]")
_BARE_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z_]*")
_DOTTED_NAME: Final = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")


def _is_code_reference(key: str, value: str) -> bool:
    """Whether `value` names a variable rather than holding a secret: the key's own name (`api_key=api_key`,
    `self.password = password`), a code word, or a dotted name (`settings.API_KEY`, `process.env.TOKEN`,
    `acme.auth0.com`)."""
    bare = value.rstrip(";,")
    last = key.rsplit(".", 1)[-1].lstrip("-_$").lower()
    return bare.lower() in (last, key.lower()) or bare in _CODE_WORDS or _DOTTED_NAME.fullmatch(bare) is not None


#: Values of a secret-named key that are not secrets.
_PLACEHOLDER_VALUES: Final = frozenset({
    "", "true", "false", "null", "none", "nil", "yes", "no", "string", "required", "optional", "undefined",
})  # fmt: skip


#: Lower-case words one of which any key `is_secret_setting` accepts contains: rules that look for
#: such a key first check the text holds one (most text holds none, and the regexes are costly).
_SECRET_WORD_HINTS: Final = ("pass", "pwd", "secret", "token", "key", "credential", "auth")

#: A `NAME` / `name` that may name a secret (bounded either side of the word, so that a long run of
#: key characters costs linear time; `is_secret_setting` decides).
_SECRET_KEY: Final = rf"(?P<key>[A-Z0-9_.-]{{0,64}}{_ENV_KEYWORDS}[A-Z0-9_.-]{{0,64}})"


def _looks_like_a_credential(value: str) -> bool:
    """Whether a word after `name:` in prose is a credential rather than a word of the sentence: it
    mixes letters and digits, and is no path or URL (`token: expired`, `password: required` are
    prose; `password: Zx9qLm2Rt7vB` is not)."""
    bare = value.rstrip(".,:!?")
    if len(bare) < 6 or "://" in bare or bare.startswith(("/", "~", ".")):
        return False
    return any(c.isdigit() for c in bare) and any(c.isalpha() for c in bare)


def _keyed_rule(label: str, pattern: str, separator: str) -> RedactionRule:
    """A rule that masks the `value` of a `key` (`_SECRET_KEY`) set with `separator`, when the key
    names a secret; it only runs on text holding the separator and a secret word."""
    return RedactionRule(
        label,
        re.compile(pattern),
        group="value",
        hints=_SECRET_WORD_HINTS,
        hint_ci=True,
        requires=(separator,),
        accept=_names_a_secret,
    )


#: Passwords in URLs (`scheme://user:password@host`), also with an empty user (`redis://:pw@host`)
#: and with `@` inside the password (the last `@` before the host ends it). Runs before
#: detect-secrets' own URL rule, which stops at the first `@` and would leave the rest of the password.
_URL_PASSWORD: Final = RedactionRule(
    "url-password",
    re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]]*:((?!\[REDACTED)[^\s/]{3,})@"),
    group=1,
    hints=("://",),
)

#: Formats detect-secrets does not know (or only matches partly), documented in docs/export.md.
_EXTRA_RULES: Final = [
    RedactionRule(
        "private-key",
        re.compile(
            r"-----BEGIN ((?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
            r"[\s\S]*?(?:-----END \1-----|\Z)"
        ),
        hints=("PRIVATE KEY",),
    ),
    RedactionRule("anthropic-key", re.compile(r"sk-ant-[A-Za-z0-9]{2,8}-[A-Za-z0-9_\-]{20,}"), hints=("sk-ant-",)),
    RedactionRule("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}"), hints=("sk-",)),
    RedactionRule("github-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}"), hints=("github_pat_",)),
    RedactionRule("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), hints=("AIza",)),
    RedactionRule("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), hints=("xox",)),
    RedactionRule(
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        hints=("eyJ",),
    ),
    RedactionRule(
        "bearer-token",
        re.compile(r"(?i)\b(?:authorization\s*[:=]\s*[\"']?\s*)?bearer\s+([A-Za-z0-9_\-.~+/]{16,}=*)"),
        group=1,
        hints=("bearer",),
        hint_ci=True,
    ),
    RedactionRule(
        "basic-auth",
        re.compile(r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?\s*basic\s+((?!\[REDACTED)[A-Za-z0-9+/]{8,}={0,2})"),
        group=1,
        hints=("basic",),
        hint_ci=True,
    ),
    RedactionRule(
        "cli-password",  # curl -u user:password (wget's --password=... is env-secret's); gaps bounded
        re.compile(
            r"\b(?:curl|wget)\b[^\n|;&]{0,300}?\s(?:-u|--user|--proxy-user|-U)(?:\s+|=)[\"']?"
            r"[^\s:\"']+:(?P<value>(?!\[REDACTED)[^\s\"']{3,})"
        ),
        group="value",
        hints=("curl", "wget"),
    ),
    RedactionRule(
        "cli-password",  # mysql -pPASSWORD (a bare -p prompts for it)
        re.compile(
            r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlsh|mariadb|mariadb-dump)\b[^\n|;&]{0,300}?\s-p"
            r"(?P<value>(?!\[REDACTED)[^\s\"'-][^\s\"']{2,})"
        ),
        group="value",
        hints=("mysql", "mariadb"),
    ),
    RedactionRule(
        "cli-password",
        re.compile(r"\bsshpass\s+-p\s*[\"']?(?P<value>(?!\[REDACTED)[^\s\"']{3,})"),
        group="value",
        hints=("sshpass",),
    ),
    *(
        RedactionRule(label, re.compile(rf"(?<![A-Za-z0-9_]){pattern}(?![A-Za-z0-9_])"), hints=(hint,))
        for label, hint, pattern in (
            ("npm-token", "npm_", r"npm_[A-Za-z0-9]{36}"),
            ("huggingface-token", "hf_", r"hf_[A-Za-z0-9]{34,40}"),
            ("xai-key", "xai-", r"xai-[A-Za-z0-9]{70,100}"),
            ("google-oauth-token", "ya29.", r"ya29\.[A-Za-z0-9_\-]{30,}"),
            ("digitalocean-token", "_v1_", r"do[opr]_v1_[a-f0-9]{64}"),
            ("shopify-token", "shp", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
            ("linear-key", "lin_api_", r"lin_api_[A-Za-z0-9]{40}"),
            ("postman-key", "PMAK-", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
            ("docker-token", "dckr_pat_", r"dckr_pat_[A-Za-z0-9_-]{27,}"),
            ("grafana-token", "glsa_", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
            ("sentry-token", "sntry", r"sntry[su]_[A-Za-z0-9+/=_-]{40,}"),
            ("vault-token", "hvs.", r"hvs\.[A-Za-z0-9_-]{24,}"),
            ("databricks-token", "dapi", r"dapi[a-f0-9]{32}(?:-[0-9])?"),
            ("age-secret-key", "AGE-SECRET-KEY-1", r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
            ("devlog-key", "dvl_", r"dvl_[A-Za-z0-9]{12}_[A-Za-z0-9]{20,128}"),
            ("stripe-webhook-secret", "whsec_", r"whsec_[A-Za-z0-9+/=]{24,}"),
            ("atlassian-token", "ATATT", r"ATATT[A-Za-z0-9_\-=]{40,}"),
            ("pulumi-token", "pul-", r"pul-[a-f0-9]{40}"),
            ("doppler-token", "dp.", r"dp\.(?:st|ct|sa|scim|audit)\.[A-Za-z0-9_.\-]{20,}"),
            ("mailgun-key", "key-", r"key-[0-9a-z]{32}"),
        )
    ),
    *(
        _keyed_rule(
            "env-secret",
            rf"(?im)(?:^[+-]?|(?<=[\s;&|(?\"'\[,=:#]))[ \t]*(?:export[ \t]+)?{_SECRET_KEY}[ \t]*=[ \t]*{value}",
            "=",
        )
        for value in (
            # quoted: everything up to the closing quote (spaces and `#` included)
            r"(?P<q>[\"'])(?P<value>(?!\[REDACTED|\$)[^\"'\n]{4,}?)(?P=q)",
            # unquoted: up to a blank or a quote, `#`, `&`, `;` inside included (a shell or .env value
            # ends at a blank), trailing `;,)]}` left out, and a `;` or `&` before another `name=` ends
            # it (URLs, connection strings: `...KeyName=x;SharedAccessKey=...`)
            r"(?P<value>(?!\[REDACTED|\$)[^\s\"'#()\[\]{}&;,](?:(?![;&][\w.\-\[\]]+=)[^\s\"'()\[\]{}]){3,}?)"
            r"(?=[;,)\]}&]*(?:[\s\"'|]|$)|[;&][\w.\-\[\]]+=)",
        )
    ),
    *(
        _keyed_rule(
            "config-secret",
            rf"(?im)^[+]?[ \t]*(?:-[ \t]+)?[\"']?{_SECRET_KEY}[\"']?[ \t]*:"
            r"[ \t]+(?!\[REDACTED|\$\{|<|(?:true|false|null|none|yes|no|string|required|optional)\b)"
            rf"{value}[ \t]*(?:[ \t]#.*)?$",
            ":",
        )
        for value in (
            r"(?P<q>[\"'])(?P<value>[^\"'\n]{4,}?)(?P=q),?",  # quoted: spaces and `#` included
            # plain: a `#` after a blank starts a comment; a `,` only inside it; no brackets (code)
            r"(?P<value>[^\s\"'#{}\[\],()|](?:[^\s\"'(),{}\[\]|]|,(?=\S)){3,}?),?",
        )
    ),
    RedactionRule(  # .npmrc `//registry/:_authToken=…` (detect-secrets' own rule took the rest of the line)
        "npm-token",
        re.compile(r":_authToken=[ \t]*(?P<value>(?!\[REDACTED|\$\{)[^\s\"']{8,})"),
        group="value",
        hints=("_authToken",),
    ),
    RedactionRule(
        "password-field",
        re.compile(
            r"(?i)[\"']?(?:password|passwd|secret|api_?key|access_?token|client_?secret)[\"']?\s*[:=]\s*"
            r"[\"']((?!\[REDACTED|<|\$)[^\"'\s]{4,})[\"']"
        ),
        group=1,
        hints=("password", "passwd", "secret", "api_key", "apikey", "access_token", "accesstoken"),
        hint_ci=True,
        accept=lambda match: is_secret_setting("password", match.group(1)),
    ),
    *(
        RedactionRule(  # "refresh_token": "...", 'X-API-KEY': '...', {token: "..."} on one line (compact JSON, code)
            "secret-field",
            re.compile(
                r"(?:(?P<kq>[\"'])|(?<![\w\"'-]))(?=[A-Za-z])(?P<key>[A-Za-z0-9_.-]{2,64})(?(kq)(?P=kq))"
                r"[ \t]*(?:=>|[:=])[ \t]*"
                rf"{quote}(?P<value>(?!\[REDACTED)(?:\\.|[^{quote}\\\n]){{4,}}?){quote}"
            ),
            group="value",
            hints=_SECRET_WORD_HINTS,
            hint_ci=True,
            requires=(quote,),
            accept=_names_a_secret,
        )
        for quote in ('"', "'")
    ),
    RedactionRule(  # curl -H 'x-api-key: ...', "X-Auth-Token: ..." (a header inside quotes)
        "header-secret",
        re.compile(r"(?<=[\"'])(?P<key>[A-Za-z][A-Za-z0-9-]{1,60})[ \t]*:[ \t]*(?P<value>(?!\[REDACTED)[^\s\"']{8,})"),
        group="value",
        hints=_SECRET_WORD_HINTS,
        hint_ci=True,
        requires=(":",),
        accept=_names_a_secret,
    ),
    RedactionRule(  # Authorization: Token ..., or a bare credential (Bearer and Basic have rules of their own)
        "authorization",
        re.compile(
            r"(?i)\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?[ \t]*(?:token[ \t]+)?"
            r"(?P<value>(?!\[REDACTED|bearer\b|basic\b|negotiate\b|digest\b)[A-Za-z0-9_\-.~+/]{16,}=*)"
        ),
        group="value",
        hints=("authorization",),
        hint_ci=True,
    ),
    RedactionRule(  # --password VALUE, --api-key=VALUE, --client-secret VALUE (not --token-file PATH)
        "cli-secret",
        re.compile(
            r"(?i)(?<![\w-])--(?P<key>[a-z0-9-]{0,64}(?:password|passwd|passphrase|token|secret|api-?key)[a-z0-9-]{0,64})"
            r"(?:[ \t]+|=)(?P<q>[\"']?)(?P<value>(?!\[REDACTED|\$|[-<>|&;])[^\s\"']{3,})(?P=q)"
        ),
        group="value",
        hints=("--",),
        accept=_names_a_secret,
    ),
    RedactionRule(
        "cli-secret",  # redis-cli -a PASSWORD
        re.compile(r"\bredis-cli\b[^\n|;&]{0,300}?\s-a[ \t]+[\"']?(?P<value>(?!\[REDACTED)[^\s\"'-][^\s\"']{2,})"),
        group="value",
        hints=("redis-cli",),
    ),
    RedactionRule(
        "cli-secret",  # htpasswd -b [-c ...] FILE USER PASSWORD
        re.compile(
            r"\bhtpasswd(?:[ \t]+-\w+)*[ \t]+-\w*b\w*(?:[ \t]+-\w+)*[ \t]+\S+[ \t]+\S+[ \t]+[\"']?"
            r"(?P<value>(?!\[REDACTED)[^\s\"']{3,})"
        ),
        group="value",
        hints=("htpasswd",),
    ),
    RedactionRule(
        "cli-secret",  # aws configure set aws_secret_access_key VALUE (and session tokens)
        re.compile(
            r"\baws[ \t]+configure[ \t]+set[ \t]+(?P<key>[\w.]{0,64}(?:secret|token)[\w.]{0,64})[ \t]+[\"']?"
            r"(?P<value>(?!\[REDACTED)[^\s\"']{8,})"
        ),
        group="value",
        hints=("configure",),
    ),
    RedactionRule(  # ALTER USER x WITH PASSWORD '...', CREATE ROLE ... PASSWORD '...', IDENTIFIED BY '...'
        "sql-password",
        re.compile(
            r"(?i)\b(?:password|identified(?:[ \t]+with[ \t]+\w+)?[ \t]+by)[ \t]+(?P<q>['\"])"
            r"(?P<value>(?!\[REDACTED)[^'\"\n]{3,}?)(?P=q)"
        ),
        group="value",
        hints=("password", "identified"),
        hint_ci=True,
    ),
    RedactionRule(  # signed URLs and tokens in a URL's query or fragment (S3, GCS, Azure SAS, CloudFront, OAuth)
        "url-signature",
        re.compile(
            r"(?i)[?&#;](?:x-amz-signature|x-goog-signature|sig|signature|access_token|id_token|refresh_token)="
            r"(?P<value>(?!\[REDACTED)[^&#\s\"'<>]{8,})"
        ),
        group="value",
        hints=("sig", "access_token", "id_token", "refresh_token"),
        hint_ci=True,
    ),
    RedactionRule(  # Cookie: / Set-Cookie: values (session cookies are credentials)
        "cookie",
        re.compile(r"(?i)\b(?:set-)?cookie[\"']?[ \t]*:[ \t]*[\"']?(?P<value>(?!\[REDACTED)[\w.%-]+=[^\n\"']{4,})"),
        group="value",
        hints=("cookie",),
        hint_ci=True,
    ),
    RedactionRule(  # kubeconfig: a client's private key, base64 (a PEM block once decoded)
        "private-key",
        re.compile(r"(?m)\bclient-key-data:[ \t]*(?P<value>(?!\[REDACTED)[A-Za-z0-9+/=]{16,})"),
        group="value",
        hints=("client-key-data",),
    ),
    RedactionRule(  # a Kubernetes pull secret: base64 of a Docker config with its registry passwords
        "docker-config",
        re.compile(r"\.dockerconfigjson[\"']?[ \t]*:[ \t]*[\"']?(?P<value>(?!\[REDACTED)[A-Za-z0-9+/=]{16,})"),
        group="value",
        hints=(".dockerconfigjson",),
    ),
    RedactionRule(  # <password>...</password> (Maven settings.xml and other XML)
        "xml-secret",
        re.compile(
            r"<(?P<key>[\w.:-]{0,64}(?i:password|passwd|secret|token|api-?key|apikey)[\w.:-]{0,64})>"
            r"(?P<value>(?!\[REDACTED)[^<\s]{3,})</(?P=key)>"
        ),
        group="value",
        hints=_SECRET_WORD_HINTS,
        hint_ci=True,
        requires=("</",),
        accept=_names_a_secret,
    ),
    RedactionRule(  # <add key="ApiKey" value="..."/> (.NET config) and PHP define('DB_PASSWORD', '...')
        "config-secret",
        re.compile(
            r"(?i)(?:\bkey=|\bdefine\([ \t]*)(?P<kq>[\"'])(?P<key>[\w.:-]{1,64})(?P=kq)[ \t]*(?:value=|,)[ \t]*"
            r"(?P<q>[\"'])(?P<value>(?!\[REDACTED)[^\"'\n]{3,}?)(?P=q)"
        ),
        group="value",
        hints=_SECRET_WORD_HINTS,
        hint_ci=True,
        accept=_names_a_secret,
    ),
    RedactionRule(  # webhooks whose URL is the credential (Discord, Microsoft Teams)
        "webhook-url",
        re.compile(
            r"https://(?:(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/|[\w.-]+\.webhook\.office\.com/"
            r"webhookb2/)(?P<value>(?!\[REDACTED)[^\s\"'<>]{16,})"
        ),
        group="value",
        hints=("/api/webhooks/", "webhook.office.com"),
    ),
    RedactionRule(
        "cli-secret",  # docker login -p PASSWORD, ldapsearch/ldapmodify -w PASSWORD, gh secret set X --body VALUE
        re.compile(
            r"\b(?:docker[ \t]+login\b[^\n|;&]{0,200}?\s(?:-p|--password)|ldap\w*\b[^\n|;&]{0,300}?\s-w"
            r"|gh[ \t]+secret[ \t]+set\b[^\n|;&]{0,200}?\s(?:--body|-b))(?:[ \t]+|=)(?P<q>[\"']?)"
            r"(?P<value>(?!\[REDACTED|-)[^\s\"']{3,})(?P=q)"
        ),
        group="value",
        hints=("docker", "ldap", "gh "),
    ),
    RedactionRule(
        "cli-secret",  # openssl -passin pass:PASSWORD / -passout pass:PASSWORD
        re.compile(r"-pass(?:in|out)[ \t]+pass:(?P<value>(?!\[REDACTED)\S{3,})"),
        group="value",
        hints=("pass:",),
    ),
    RedactionRule(  # ~/.pgpass: host:port:database:user:password
        "pgpass",
        re.compile(r"(?m)^[^\s:#]+:(?:\d{1,5}|\*):[^\s:]+:[^\s:]+:(?P<value>(?!\[REDACTED)\S{3,})$"),
        group="value",
        hints=(":",),
    ),
    RedactionRule(  # ~/.netrc: machine HOST login USER password PASSWORD
        "netrc",
        re.compile(r"\bmachine\s+\S+(?:\s+(?:login|account)\s+\S+)*\s+password\s+(?P<value>(?!\[REDACTED)\S{3,})"),
        group="value",
        hints=("machine",),
    ),
    # Prose, last (a specific rule labels what it knows first): "here is the config -> password:
    # Zx9qLm2Rt7vB", "my api_key: q8Wz… for staging".
    RedactionRule(
        "inline-secret",
        re.compile(
            rf"(?i)(?<![\w.-]){_SECRET_KEY}[\"']?[ \t]*:[ \t]+(?!\[REDACTED)"
            r"(?P<value>[^\s\"'`(),;{}\[\]|<>$%]{6,})"
        ),
        group="value",
        hints=_SECRET_WORD_HINTS,
        hint_ci=True,
        requires=(":",),
        accept=lambda match: _looks_like_a_credential(match.group("value")) and _names_a_secret(match),
    ),
]


#: What replaces the value of a secret-named key in a JSON document (`Redactor.redact_value`).
_SECRET_FIELD_MARKER: Final = "[REDACTED:secret-field]"  # noqa: S105 (the marker, not a password)


class Redactor:
    """Masks secrets in strings; `redact()` returns the new text and how many secrets it masked."""

    def __init__(self, rules: list[RedactionRule]) -> None:
        self.rules = rules

    def redact(self, text: str) -> tuple[str, int]:
        """Replace every secret in `text` by `[REDACTED:<label>]`."""
        count = 0
        lowered: str | None = None
        for rule in self.rules:
            if rule.requires and not all(literal in text for literal in rule.requires):
                continue
            if rule.hints:
                if rule.hint_ci:
                    if lowered is None:
                        lowered = text.lower()
                    haystack = lowered
                else:
                    haystack = text
                if not any(hint in haystack for hint in rule.hints):
                    continue
            text, n = self._apply(rule, text)
            if n:
                count += n
                lowered = None
        return text, count

    @staticmethod
    def _apply(rule: RedactionRule, text: str) -> tuple[str, int]:
        marker = f"[REDACTED:{rule.label}]"
        found = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal found
            if rule.accept is not None and not rule.accept(match):
                return match.group(0)
            if rule.group == 0:
                found += 1
                return marker
            start, end = match.span(rule.group)
            if start < 0 or match.group(rule.group).startswith("[REDACTED"):
                return match.group(0)
            found += 1
            base = match.start()
            whole = match.group(0)
            return whole[: start - base] + marker + whole[end - base :]

        return rule.pattern.sub(replace, text), found

    def redact_value(self, value: Any) -> tuple[Any, int]:
        """Redact every string inside a JSON-like value (dicts, lists, strings)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            total = 0
            out: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(item, str) and isinstance(key, str) and is_secret_setting(key, item):
                    out[key], n = _SECRET_FIELD_MARKER, 1  # {"refresh_token": "..."}: the key says what it is
                else:
                    out[key], n = self.redact_value(item)
                total += n
            return out, total
        if isinstance(value, list):
            total = 0
            items = []
            for item in value:
                new, n = self.redact_value(item)
                items.append(new)
                total += n
            return items, total
        return value, 0


#: Stripe secret and restricted keys, whole: detect-secrets' rule masks only the first 24 characters
#: after `sk_live_`, and current keys are 99+ characters. Runs before it.
_STRIPE: Final = RedactionRule(
    "stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{24,}"), hints=("k_live_", "k_test_")
)

_default: Redactor | None = None


def default_redactor() -> Redactor:
    """The shared rule set (detect-secrets' format rules first, then the extras)."""
    global _default
    if _default is None:
        _default = Redactor([*_EXTRA_RULES[:1], _URL_PASSWORD, _STRIPE, *_detect_secrets_rules(), *_EXTRA_RULES[1:]])
    return _default


def _metadata_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bool | int | float) or (
            isinstance(value, str) and key in METADATA_ATTR_KEYS and len(value) <= 200
        ):
            kept[key] = value
    return kept


def _redact_text(redactor: Redactor, text: str) -> tuple[str, int]:
    """`redactor.redact(text)`, and for a JSON document (a tool call's input) the strings inside it
    first: there a file's lines are one string with `\\n` escapes and quotes are `\\"`, which the
    line- and quote-anchored rules (`.env`, YAML, JSON password fields) would never see."""
    count = 0
    if text[:1] in "{[":
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError:
            value = None
        if isinstance(value, dict | list):
            value, count = redactor.redact_value(value)
            if count:
                text = msgspec.json.encode(value).decode()
    text, more = redactor.redact(text)
    return text, count + more


def apply_policy(event: Event, policy: ContentPolicy, redactor: Redactor | None = None) -> Event:
    """The copy of `event` that may be sent to a remote with `policy`."""
    if event.git is not None and event.git.remote:
        git = credential_free_git(event.git)  # (stored before the collector removed them)
        if git is not event.git:
            event = msgspec.structs.replace(event, git=git)
    if policy == "full":
        return event
    if policy == "metadata":
        return msgspec.structs.replace(event, text=None, source=None, attrs=_metadata_attrs(event.attrs))
    redactor = redactor or default_redactor()
    count = 0
    text = event.text
    if text:
        text, count = _redact_text(redactor, text)
    attrs = event.attrs
    if attrs:
        attrs, n = redactor.redact_value(attrs)
        count += n
    if count == 0:
        return event
    attrs = dict(attrs)
    previous = attrs.get("redactions")
    attrs["redactions"] = count + (previous if isinstance(previous, int) and not isinstance(previous, bool) else 0)
    return msgspec.structs.replace(event, text=text, attrs=attrs)
