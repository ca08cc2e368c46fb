#!/usr/bin/env bash
# 服务器部署，一条命令（Debian 12，以 root 运行）：安装并启动 PostgreSQL 15 + PostGIS 3，
# 建库、建角色、迁移表结构、创建第一个县级管理员，然后以「服务器模式」（必须登录）启动应用。
# Server mode in one command, on a fresh Debian machine, as root. Re-running it is safe: it
# keeps the existing passwords, database, accounts and data, and changes nothing that is set.
#
#   sudo ./scripts/server.sh              set up (or check) everything, then start the app
#   sudo ./scripts/server.sh --no-start   set up everything, do not start the app
#
# Settings (environment; defaults in brackets):
#   GAPMAP_HOST [127.0.0.1]   address the app listens on (nginx with TLS in front, README)
#   PORT [8501]               the app's port
#   GAPMAP_SETTINGS [default] settings profile or TOML file (server.max_upload_mb, …)
#   GAPMAP_ADMIN [admin]      the first county administrator's login name
#   GAPMAP_ADMIN_PASSWORD     their password; default: generated, written to a root-only file
#   GAPMAP_HOME [/etc/gapmap] where server.env (generated passwords, chmod 600) is kept
#   GAPMAP_DB_NAME [gapmap], GAPMAP_DB_OWNER [gapmap_owner], GAPMAP_DB_APP [gapmap_app]
#   GAPMAP_RUN_AS [$SUDO_USER] the system user the app runs as (root when unset)
#   GAPMAP_REGION_RESULTS [/var/lib/gapmap/region] the results folder of python -m scripts.region
#                             (README「全区（逐县计算）」): the app shows its progress.json while it runs
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

START=1
for arg in "$@"; do
  case "$arg" in
    --no-start) START=0 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "[gapmap] 未知参数：$arg（可用 --no-start、--help）" >&2; exit 2 ;;
  esac
done

say() { echo "[gapmap] $*" >&2; }
die() { echo "[gapmap] 错误：$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "请以 root 运行（sudo ./scripts/server.sh）：需要安装软件包、管理 PostgreSQL"

HOME_DIR="${GAPMAP_HOME:-/etc/gapmap}"
ENV_FILE="$HOME_DIR/server.env"
DB_NAME="${GAPMAP_DB_NAME:-gapmap}"
DB_OWNER="${GAPMAP_DB_OWNER:-gapmap_owner}"
DB_APP="${GAPMAP_DB_APP:-gapmap_app}"
ADMIN="${GAPMAP_ADMIN:-admin}"
HOST="${GAPMAP_HOST:-127.0.0.1}"
APP_PORT="${PORT:-8501}"
for name in "$DB_NAME" "$DB_OWNER" "$DB_APP"; do
  [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "数据库名或角色名「$name」只能用小写字母、数字和下划线"
done

# --- 1. PostgreSQL 15 + PostGIS 3 from Debian's packages, when missing -----------------------
if ! dpkg -s postgresql-15 postgresql-15-postgis-3 >/dev/null 2>&1; then
  say "安装 PostgreSQL 15 + PostGIS 3（Debian 软件包 postgresql-15、postgresql-15-postgis-3）"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-15-postgis-3 \
    >/dev/null
fi

# --- 2. the cluster, started -----------------------------------------------------------------
if ! pg_lsclusters -h | awk '$1 == "15" {found = 1} END {exit !found}'; then
  say "创建 PostgreSQL 15 数据库集群"
  pg_createcluster 15 main >/dev/null
fi
CLUSTER="$(pg_lsclusters -h | awk '$1 == "15" {print $2; exit}')"
if ! pg_lsclusters -h | awk -v c="$CLUSTER" '$1 == "15" && $2 == c && $4 == "online" {ok = 1} END {exit !ok}'; then
  say "启动 PostgreSQL 15/$CLUSTER"
  pg_ctlcluster 15 "$CLUSTER" start
fi
PG_PORT="$(pg_lsclusters -h | awk -v c="$CLUSTER" '$1 == "15" && $2 == c {print $3; exit}')"
# psql as the superuser over the local socket (peer authentication); stops at the first error
pg() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"); }

# --- 3. generated passwords, kept in a root-only file; existing ones are never changed -------
install -d -m 700 "$HOME_DIR"
OWNER_PW="" APP_PW=""
if [ -f "$ENV_FILE" ]; then
  OWNER_PW="$(sed -n 's/^GAPMAP_DB_OWNER_PASSWORD=//p' "$ENV_FILE")"
  APP_PW="$(sed -n 's/^GAPMAP_DB_APP_PASSWORD=//p' "$ENV_FILE")"
fi
NEW_PW=0
gen_pw() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
[ -n "$OWNER_PW" ] || { OWNER_PW="$(gen_pw)"; NEW_PW=1; }
[ -n "$APP_PW" ] || { APP_PW="$(gen_pw)"; NEW_PW=1; }
OWNER_URL="postgresql+psycopg://$DB_OWNER:$OWNER_PW@127.0.0.1:$PG_PORT/$DB_NAME"
APP_URL="postgresql+psycopg://$DB_APP:$APP_PW@127.0.0.1:$PG_PORT/$DB_NAME"
if [ "$NEW_PW" -eq 1 ]; then
  say "生成数据库密码，保存在 $ENV_FILE（仅 root 可读）"
  tmp="$(mktemp "$HOME_DIR/.server.env.XXXXXX")"
  chmod 600 "$tmp"
  cat >"$tmp" <<EOF
# GapMap 服务器模式：数据库角色与密码（scripts/server.sh 生成；请勿外传）
GAPMAP_DB_OWNER_PASSWORD=$OWNER_PW
GAPMAP_DB_APP_PASSWORD=$APP_PW
GAPMAP_DB_OWNER_URL=$OWNER_URL
GAPMAP_DB_URL=$APP_URL
EOF
  mv -f "$tmp" "$ENV_FILE"
fi
chmod 600 "$ENV_FILE"

# --- 4. roles and the database ---------------------------------------------------------------
# owner: owns the schema and runs the migrations; app: what the app logs in as (no DDL on
# what it did not create, no DROP); neither is a superuser. A password is set only when the
# role is new or the password was just generated (the env file was missing). The owner has
# CREATEROLE for one function of the ledger (gapmap_register_actor, SECURITY DEFINER), which
# makes each user's NOLOGIN role for row-level security; the app role never has it.
pg -d postgres -v owner="$DB_OWNER" -v app="$DB_APP" -v owner_pw="$OWNER_PW" \
  -v app_pw="$APP_PW" -v reset="$NEW_PW" -v db="$DB_NAME" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') AS new_owner,
       NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') AS new_app,
       NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS new_db \gset
\if :new_owner
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB CREATEROLE PASSWORD :'owner_pw';
\elif :reset
ALTER ROLE :"owner" LOGIN PASSWORD :'owner_pw';
\endif
ALTER ROLE :"owner" CREATEROLE;
\if :new_app
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
\elif :reset
ALTER ROLE :"app" LOGIN PASSWORD :'app_pw';
\endif
\if :new_db
CREATE DATABASE :"db" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;
\endif
SQL
# PostGIS is not a trusted extension: the superuser creates it, in the new database; only
# the roles granted below may connect
pg -d "$DB_NAME" -v db="$DB_NAME" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL

# --- 5. the schema: every store's tables, as the owner ---------------------------------------
if [ -n "${GAPMAP_PYTHON:-}" ]; then
  PY="$GAPMAP_PYTHON"
else
  source "$ROOT/scripts/_env.sh"
  PY="$ROOT/.venv/bin/python"
fi
say "迁移数据库表结构（python -m scripts.db upgrade，以 $DB_OWNER 身份）"
GAPMAP_DB_URL="$OWNER_URL" "$PY" -m scripts.db upgrade >&2

# --- 6. GRANTS to the app role (review this step when a store adds tables) --------------------
# The app role may read every table, append where the stores append, and SET ROLE to the
# row-level-security group roles of the ledger (gapmap_admin … gapmap_viewer, created by
# the ledger migration) — those decide, row by row, what each user may write. It never owns
# the bookkeeping tables, so it cannot DROP or ALTER them; an event trigger (below) also
# stops it dropping or altering the dataset layer tables it creates.
pg -d "$DB_NAME" -v owner="$DB_OWNER" -v app="$DB_APP" -v db="$DB_NAME" <<'SQL'
GRANT CONNECT ON DATABASE :"db" TO :"app";
GRANT USAGE ON SCHEMA public TO :"app";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO :"app";
-- accounts (built-in logins): the login writes sessions, lockout counters and the audit
SELECT to_regclass('public.accounts') IS NOT NULL AS has_accounts \gset
\if :has_accounts
GRANT SELECT, INSERT, UPDATE ON accounts, auth_sessions TO :"app";
GRANT SELECT, INSERT ON auth_events TO :"app";
\endif
-- datasets: versions are appended (triggers refuse UPDATE/DELETE), layer tables created
SELECT to_regclass('public.dataset_versions') IS NOT NULL AS has_datasets \gset
\if :has_datasets
GRANT SELECT, INSERT ON dataset_versions, dataset_layers, dataset_files, dataset_acceptances
  TO :"app";
GRANT USAGE, CREATE ON SCHEMA gapmap_datasets TO :"app";
\endif
-- region results (全区, migration region_0001): SELECT only, through the grant above; they
-- are written by the owner alone (python -m scripts.region --db "$GAPMAP_DB_OWNER_URL")
-- ledger: the app may register its users' database roles (gapmap_register_actor, a
-- SECURITY DEFINER function of the owner) and then SET ROLE to them; it is a member of no
-- group role itself, and cannot create roles
SELECT to_regrole('gapmap_registrar') IS NOT NULL AS has_registrar \gset
\if :has_registrar
GRANT gapmap_registrar TO :"app";
\endif
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE ON SEQUENCES TO :"app";
SQL
# No one but the database owner (and superusers) drops or alters a table, schema, trigger or
# function of this database (event triggers can only be made by the superuser).
pg -d "$DB_NAME" <<'SQL'
CREATE OR REPLACE FUNCTION gapmap_refuse_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  obj record;
  owner oid := (SELECT datdba FROM pg_database WHERE datname = current_database());
BEGIN
  IF pg_has_role(current_user, owner, 'USAGE') THEN
    RETURN;
  END IF;
  FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
    IF NOT obj.is_temporary AND obj.object_type IN
       ('table', 'schema', 'trigger', 'function', 'view', 'policy', 'index') THEN
      RAISE EXCEPTION 'GapMap: % % may only be dropped by the database owner',
        obj.object_type, obj.object_identity
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION gapmap_refuse_alter() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
  owner oid := (SELECT datdba FROM pg_database WHERE datname = current_database());
BEGIN
  IF pg_has_role(current_user, owner, 'USAGE') THEN
    RETURN;
  END IF;
  FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF NOT cmd.in_extension AND cmd.schema_name IS DISTINCT FROM 'pg_temp'
       AND cmd.object_type = 'table' THEN
      RAISE EXCEPTION 'GapMap: table % may only be altered by the database owner',
        cmd.object_identity
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
END
$$;
SELECT NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'gapmap_no_drop')
  AS new_drop_trigger,
       NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'gapmap_no_alter')
  AS new_alter_trigger \gset
\if :new_drop_trigger
CREATE EVENT TRIGGER gapmap_no_drop ON sql_drop EXECUTE FUNCTION gapmap_refuse_drop();
\endif
\if :new_alter_trigger
CREATE EVENT TRIGGER gapmap_no_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
  EXECUTE FUNCTION gapmap_refuse_alter();
\endif
SQL

# --- 7. the first county administrator -------------------------------------------------------
if GAPMAP_DB_URL="$OWNER_URL" "$PY" -m scripts.users list 2>/dev/null | grep -q '县级管理员'; then
  say "已有县级管理员，跳过创建（新增账户：python -m scripts.users add 姓名 --role … --by 管理员）"
else
  PW_FILE="$HOME_DIR/admin-initial-password"
  ADMIN_PW="${GAPMAP_ADMIN_PASSWORD:-}"
  if [ -z "$ADMIN_PW" ]; then
    ADMIN_PW="$(gen_pw)"
    (umask 077 && printf '%s\n' "$ADMIN_PW" >"$PW_FILE")
    say "第一个县级管理员「$ADMIN」的初始密码已写入 $PW_FILE（仅 root 可读），首次登录后请修改并删除该文件"
  fi
  if printf '%s\n' "$ADMIN_PW" |
    GAPMAP_DB_URL="$OWNER_URL" "$PY" -m scripts.users add "$ADMIN" --role admin --password-stdin >&2; then
    say "已创建县级管理员「$ADMIN」"
  else
    say "未能自动创建县级管理员。请手工创建："
    say "  sudo sh -c '. $ENV_FILE && GAPMAP_DB_URL=\$GAPMAP_DB_OWNER_URL $PY -m scripts.users add $ADMIN --role admin'"
  fi
fi

# --- 8. the app, login required --------------------------------------------------------------
MAX_MB="$("$PY" -c 'import os, sys; from geo.settings import load_settings
print(load_settings(os.environ.get("GAPMAP_SETTINGS", "default")).server.max_upload_mb)')"
say "数据库就绪：$DB_NAME（端口 $PG_PORT），应用角色 $DB_APP；上传上限 ${MAX_MB} MB"
if [ "$START" -eq 0 ]; then
  exit 0
fi
RUN_AS="${GAPMAP_RUN_AS:-${SUDO_USER:-}}"
CMD=(env GAPMAP_MODE=server "GAPMAP_DB_URL=$APP_URL" "GAPMAP_SETTINGS=${GAPMAP_SETTINGS:-default}"
  "GAPMAP_REGION_RESULTS=${GAPMAP_REGION_RESULTS:-/var/lib/gapmap/region}"
  "$PY" -m streamlit run app/main.py
  --server.address "$HOST" --server.port "$APP_PORT" --server.headless true
  --server.maxUploadSize "$MAX_MB" --client.showErrorDetails none
  --client.toolbarMode minimal --browser.gatherUsageStats false)
say "启动服务器模式（需登录）：http://$HOST:$APP_PORT（对外请用 nginx + TLS，见 README「服务器部署」）"
if [ -n "$RUN_AS" ] && [ "$RUN_AS" != root ]; then
  exec runuser -u "$RUN_AS" -- "${CMD[@]}"
fi
exec "${CMD[@]}"
