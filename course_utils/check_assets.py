"""Check every shipped asset against assets/MANIFEST.json: ``python -m course_utils.check_assets``.

``--update`` (maintainers, after deliberately changing an asset) rewrites the hashes first.
"""

import sys

from .assets import check_all, load_manifest, update_manifest

if __name__ == "__main__":
    if "--update" in sys.argv[1:]:
        update_manifest()
    problems = check_all()
    print("\n".join(problems) if problems else f"all {len(load_manifest()['files'])} assets verified")
    sys.exit(1 if problems else 0)
