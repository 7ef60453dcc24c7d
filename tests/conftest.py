import sys
from pathlib import Path

# The authors-style reference model lives beside the tests (it is test material, not part of the package).
sys.path.insert(0, str(Path(__file__).parent))
