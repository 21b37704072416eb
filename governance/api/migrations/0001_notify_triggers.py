"""PostgreSQL triggers that NOTIFY the web processes of every change an in-process cache of the
API depends on (governance.api.invalidation). A trigger runs inside the writing transaction and
PostgreSQL delivers its NOTIFY only at commit, so every writer is covered (services, the admin,
knox's logout, the expiry sweep, QuerySet.update, raw SQL, a test's flush) and a notification can
never arrive before the data it announces is visible. SQLite has no LISTEN: nothing is cached there.
"""
from django.db import migrations

PARAMETERS, AUTH = "api_parameters", "api_auth"

# (name, table, channel, timing): statement triggers where every change matters, row triggers
# where only some columns do (a mark price does not pick the band; a login's last_login changes
# no one's access).
TRIGGERS = [
    ("api_version_changed", "parameters_parameterversion", PARAMETERS,
     "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT"),
    ("api_subject_changed", "parameters_subject", PARAMETERS,
     "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT"),
    ("api_volatility_inserted", "positions_marketdata", PARAMETERS, "AFTER INSERT OR DELETE ON {table} FOR EACH ROW"),
    ("api_volatility_changed", "positions_marketdata", PARAMETERS,
     "AFTER UPDATE ON {table} FOR EACH ROW WHEN (OLD.realized_volatility IS DISTINCT FROM NEW.realized_volatility"
     " OR OLD.symbol IS DISTINCT FROM NEW.symbol)"),
    ("api_volatility_truncated", "positions_marketdata", PARAMETERS, "AFTER TRUNCATE ON {table} FOR EACH STATEMENT"),
    ("api_token_changed", "knox_authtoken", AUTH, "AFTER UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT"),
    ("api_user_changed", "auth_user", AUTH,
     "AFTER UPDATE OF username, is_active, password, is_superuser, is_staff OR DELETE OR TRUNCATE ON {table}"
     " FOR EACH STATEMENT"),
    ("api_membership_changed", "auth_user_groups", AUTH,
     "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT"),
    ("api_group_changed", "auth_group", AUTH, "AFTER UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT"),
]

FUNCTION = """
CREATE OR REPLACE FUNCTION api_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- one notification per channel and transaction: PostgreSQL folds identical ones
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END $$;
"""


def triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for name, table, channel, timing in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute(f"CREATE TRIGGER {name} {timing.format(table=table)} "
                              f"EXECUTE FUNCTION api_notify('{channel}')")


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, _, _ in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS api_notify()")


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("knox", "0009_extend_authtoken_field"),
        ("parameters", "0002_database_guards"),
        ("positions", "0004_stamp_without_constraints"),
    ]
    operations = [migrations.RunPython(triggers_create, triggers_drop)]
