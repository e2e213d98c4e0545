# SPDX-License-Identifier: BSD-3-Clause
# store_keys: every key of $STORE, sorted, through an independent path
# (find for file://; for s3://, s3obj.py with curl's own SigV4, not
# s3vol's S3 code, every page, --fail); fails if the store cannot be
# listed.  Needs $SUPPORT.  Sourced by functions.sh and cli.sh; exported,
# so commands run by s3vol run can call it.
store_keys () {
  local keys
  case $STORE in
  file://*) keys=$(cd "${STORE#file://}" && find . -type f) || return ;;
  s3://*)
    keys=$(python3 "$SUPPORT/s3obj.py" list "$STORE") || return
    keys=$(echo "$keys" | cut -d' ' -f2-) ;;
  *) return 1 ;;
  esac
  echo "$keys" | sort
}
export -f store_keys
