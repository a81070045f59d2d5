#!/usr/bin/env bash
# make deploy: `pulumi up` for the stack make names (STACK or CONFIG, default dev) on the local
# file backend. Checks the stack's settings first (tools/stack_file.py: valid, not the example's
# placeholder address), logs in with `pulumi login --local` when no backend is set, then selects
# (or creates) the stack. Pulumi reads the settings of stack <name> from Pulumi.<name>.yaml only,
# so the stack deployed is always the one whose file was named. Where the account's Lambda quota
# cannot spare the Pi's function its reserved concurrency, `pulumi up` gets the setting turned
# off, with the reason (tools/lambda_concurrency.py).
set -euo pipefail
cd "$(dirname "$0")/.."

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

STACK="$(.venv/bin/python tools/stack_file.py deploy)"

if [ -z "${PULUMI_BACKEND_URL:-}" ] && ! pulumi whoami >/dev/null 2>&1; then
  echo "No Pulumi backend is set: using the local file backend (~/.pulumi)."
  pulumi login --local
fi

if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "Note: Pulumi will ask for the passphrase that encrypts this stack's secrets" \
       "(set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to skip the prompt)."
fi

pulumi stack select --create "$STACK"
# `up --config` saves the value in the stack's file before the update (pulumi/pulumi
# pkg/cmd/pulumi/operations/up.go, parseAndSaveConfigArray), so later deploys keep it.
UP_CONFIG="$(.venv/bin/python tools/lambda_concurrency.py)"
if [ -n "$UP_CONFIG" ]; then set -- --config "$UP_CONFIG" "$@"; fi
pulumi up --stack "$STACK" "$@"
