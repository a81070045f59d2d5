#!/usr/bin/env bash
# make deploy: `pulumi up` for stack "dev" on the local file backend.
# Logs in with `pulumi login --local` when no backend is set, then selects (or creates) the stack.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK="${STACK:-dev}"

if ! command -v pulumi >/dev/null 2>&1; then
  echo "make deploy needs the Pulumi CLI, which is not on PATH." >&2
  echo "Install it (https://www.pulumi.com/docs/iac/download-install/), then run make deploy again." >&2
  exit 127
fi

if ! .venv/bin/python -c 'import boto3, sys; sys.exit(0 if boto3.Session().get_credentials() else 1)' 2>/dev/null; then
  echo "No AWS credentials found. Set AWS_PROFILE, run 'aws configure' or 'aws sso login'," >&2
  echo "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then run make deploy again." >&2
  exit 1
fi

if grep -Eq '^\s*-\s*1\.2\.3\.4/32' "Pulumi.${STACK}.yaml" 2>/dev/null; then
  echo "Pulumi.${STACK}.yaml still has the placeholder home address 1.2.3.4/32." >&2
  echo "Put your home's public address in solarmonitor:homeCidrs (curl -4 https://checkip.amazonaws.com)." >&2
  exit 1
fi

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! pulumi whoami >/dev/null 2>&1; then
  echo "No Pulumi backend is set: using the local file backend (~/.pulumi)."
  pulumi login --local
fi

if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "Note: Pulumi will ask for the passphrase that encrypts this stack's secrets" \
       "(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to skip the prompt)."
fi

pulumi stack select --create "$STACK"
pulumi up --stack "$STACK" "$@"
