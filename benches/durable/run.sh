#!/usr/bin/env bash
# The durable stores beside their databases' own speed, in one run on one
# machine (issue 11's goals):
# - SQLite: conversions per second against a bare sqlx loop committing one
#   row per BEGIN IMMEDIATE transaction, same WAL and synchronous=NORMAL;
# - PostgreSQL: conversions per second against pgbench's built-in
#   TPC-B-like transactions at the same number of clients (1 and 8).
# Needs PostgreSQL on 127.0.0.1:5432 (database test, trust auth) and pgbench.
# Usage: benches/durable/run.sh [conversions per run, default 3000]
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-3000}"
url="${REFERRALS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build --quiet --release --all-features --example store_speed
./target/release/examples/store_speed sqlite "$n"
REFERRALS_TEST_POSTGRES_URL="$url" ./target/release/examples/store_speed postgres "$n"
pgbench -h 127.0.0.1 -U postgres -i -s 8 -q test >/dev/null 2>&1
for clients in 1 8; do
  printf 'pgbench tpcb-like, %s client(s): ' "$clients"
  pgbench -h 127.0.0.1 -U postgres -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -T 10 test 2>/dev/null | grep -E '^tps' 
done
# pgbench's tables are not ours to leave behind.
pgbench -h 127.0.0.1 -U postgres -i -I d test >/dev/null 2>&1
