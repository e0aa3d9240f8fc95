"""The leaves every other sub-package stands on: ``checks`` (one message style for every bad
parameter), ``seeds`` (the one seed scheme), ``store`` (atomic writes, self-describing run folders,
cached tables) and ``labels`` (the names that methods' rows carry). Imports nothing of pnlib."""
