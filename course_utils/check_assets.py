"""Check every shipped asset against its MANIFEST.json: ``python -m course_utils.check_assets``.

It checks the assets folder in use (``course_utils.assets.assets_dir()``: ``COURSE_ASSETS_DIR``, a
checkout's ``assets/`` or the copy inside an installed course) and says which one it checked.
``--update`` (maintainers, after deliberately changing an asset) rewrites the hashes first.
"""

import sys

from . import assets

if __name__ == "__main__":
    try:
        if "--update" in sys.argv[1:]:
            assets.update_manifest()
        problems = assets.check_all()
    except assets.AssetError as e:
        sys.exit(f"error: {e}")
    where = f"in {assets.assets_dir()} ({assets.ASSETS_SOURCE})"
    print("\n".join(problems) if problems else f"all {len(assets.load_manifest()['files'])} assets verified {where}")
    sys.exit(1 if problems else 0)
