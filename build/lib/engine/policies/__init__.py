"""The organisation's checkov policies (CKV_DBV_*), one custom check per file (--external-checks-dir)."""
