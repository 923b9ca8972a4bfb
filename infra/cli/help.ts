import type { CommandName } from './args.ts';

const USAGE = 'didit-kms-gateway <command> --stage <stage> [options]';

const COMMON_OPTIONS = `Options:
  --stage <stage>            Stage the secret belongs to (required). Part of the KMS encryption context
                             {service: didit-kms-gateway, stage, purpose}: a ciphertext sealed for one stage
                             cannot be decrypted by another.
  --purpose <p>              api-key (default) or webhook-secret.
  --secret-id <id>           Secrets Manager name or ARN. Default: didit-kms-gateway/<stage>/didit-api-key
                             (or .../didit-webhook-secret), as in serverless.yml.
  --kms-key-id <id|alias>    KMS key: seal/rotate encrypt with it (default: the KMS key of the existing
                             secret; required to create a new one); verify passes it to Decrypt so KMS
                             refuses a ciphertext made with another key (optional).
  --region <region>          AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or your AWS profile).
  --didit-base-url <url>     verify/rotate: Didit API (default: DIDIT_BASE_URL, else https://verification.didit.me).
  --didit-ca-file <path>     verify/rotate: extra CA (PEM) for Didit (default: DIDIT_CA_FILE).
  --json                     One JSON object on stdout, for scripts (errors too).
  -h, --help                 This help; \`didit-kms-gateway help <command>\` for one command.`;

const SECRET_INPUT = `The secret is read from the terminal without echo (Enter finishes, Backspace deletes, Ctrl-U clears,
Ctrl-C aborts with exit code 130), or, when stdin is not a terminal, from stdin (all of it; one trailing
newline is dropped). It is never read from an argument, an environment variable or a file argument: such
attempts (--api-key, --value, a positional value, ...) are refused with exit code 2. It goes into locked,
non-swappable memory (libsodium), is never turned into a JavaScript string, and is zeroed and freed as soon
as KMS has encrypted it.`;

const EXIT_CODES = `Exit codes:
  0    success
  1    error (invalid input, unexpected failure)
  2    usage error (bad or refused arguments)
  3    Didit rejected the key (401/403)            [verify, rotate]
  4    KMS or Secrets Manager failed (access, key, secret missing or malformed)
  130  aborted at the prompt (Ctrl-C)`;

const OVERVIEW = `Usage: ${USAGE}

Seal, rotate, verify and fingerprint the Didit API key (or webhook secret) that the didit-kms-gateway
functions use. The key is stored only as KMS ciphertext (Secrets Manager SecretBinary) bound to the
encryption context {service, stage, purpose}; no command ever prints it.

Commands:
  seal          Read the secret, encrypt it with KMS, store it as a NEW version of the secret.
  rotate        seal, then verify the new version against Didit.
  verify        Decrypt the current version the way the functions do and call Didit with it
                (GET /v3/sessions/?limit=1, read-only).
  fingerprint   Show the fingerprint and version id of the current ciphertext (no decryption).

${COMMON_OPTIONS}

${EXIT_CODES}

Examples:
  didit-kms-gateway seal --stage prod --kms-key-id alias/didit-kms-gateway-prod     # hidden prompt
  pass show didit/prod | didit-kms-gateway rotate --stage prod --json
  didit-kms-gateway verify --stage prod
  didit-kms-gateway fingerprint --stage prod`;

const COMMAND_HELP: Record<CommandName, string> = {
  seal: `Usage: didit-kms-gateway seal --stage <stage> [--kms-key-id <id|alias>] [--purpose api-key|webhook-secret]
                              [--secret-id <id>] [--region <r>] [--json]

Reads the secret, checks its shape (API key: 16-512 visible ASCII characters; webhook secret: 43 URL-safe
base64 characters), encrypts it with KMS under {service: didit-kms-gateway, stage, purpose}, and stores the
ciphertext as a new version of the secret (PutSecretValue with SecretBinary). The secret is created, with
the same KMS key, when it does not exist yet. The version it replaces stays as AWSPREVIOUS for rollback.

Prints the ciphertext fingerprint, the secret id and the new version id: nothing else.

${SECRET_INPUT}

${COMMON_OPTIONS}

${EXIT_CODES}`,

  rotate: `Usage: didit-kms-gateway rotate --stage <stage> [--kms-key-id <id|alias>] [--purpose api-key|webhook-secret]
                                [--secret-id <id>] [--region <r>] [--didit-base-url <url>] [--didit-ca-file <path>] [--json]

Seals the new secret exactly as \`seal\` does (a new version; the old one becomes AWSPREVIOUS), then runs
\`verify\` on it. For the webhook secret, verify checks that it decrypts and has the right shape (Didit has no
read-only check for it).

No downtime: running functions cache only the ciphertext, for CIPHERTEXT_TTL_SECONDS (default 300 s), and
decrypt it anew on every call. They pick up the new version when that TTL runs out, or at once when Didit
answers 401 to the old key (SealedKey re-reads the secret and retries with the new version). Keep the old key
valid at Didit until the TTL has passed, then revoke it.

If verify fails (exit 3), the new version stays current: roll back with
  aws secretsmanager update-secret-version-stage --secret-id <id> --version-stage AWSCURRENT \\
      --move-to-version-id <previous-version> --remove-from-version-id <new-version>
(both ids are printed).

${SECRET_INPUT}

${COMMON_OPTIONS}

${EXIT_CODES}`,

  verify: `Usage: didit-kms-gateway verify --stage <stage> [--purpose api-key|webhook-secret] [--secret-id <id>]
                                [--kms-key-id <id|alias>] [--region <r>] [--didit-base-url <url>] [--didit-ca-file <path>] [--json]

Reads the current version (AWSCURRENT) of the sealed secret, decrypts it with KMS straight into locked memory
(the functions' own path: SealedKey, no JavaScript string), and calls a cheap read-only Didit endpoint,
GET /v3/sessions/?limit=1, to prove the key works. Prints OK, the ciphertext fingerprint, the version id and
Didit's status; never the key. The Didit URL and CA come from DIDIT_BASE_URL / DIDIT_CA_FILE, like the
functions, or from the flags.

${COMMON_OPTIONS}

${EXIT_CODES}`,

  fingerprint: `Usage: didit-kms-gateway fingerprint --stage <stage> [--purpose api-key|webhook-secret] [--secret-id <id>]
                                     [--region <r>] [--json]

Prints the fingerprint (sha256 of the ciphertext, first 16 hex digits) and version id of the current
ciphertext, without decrypting it. The functions log the same fingerprint in their audit records, so you can
tell which sealed version they use.

${COMMON_OPTIONS}

${EXIT_CODES}`,
};

export function helpText(command: CommandName | undefined): string {
  return command === undefined ? OVERVIEW : COMMAND_HELP[command];
}
