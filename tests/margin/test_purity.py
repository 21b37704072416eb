import subprocess
import sys

from django.conf import settings


def test_engine_imports_without_django_celery_or_yaml():
    code = ("import sys, governance.margin; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'celery', 'yaml', 'rest_framework', "
            "'numpy', 'jsonschema'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
