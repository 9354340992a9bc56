import sys
from pathlib import Path

# scenario.py sits beside the tests (tests/unit/reporting is not a package).
sys.path.insert(0, str(Path(__file__).parent))
