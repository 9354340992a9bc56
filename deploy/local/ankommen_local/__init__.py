"""Local Kafka and PostgreSQL as native processes for development, tests and the demo.

CLI: `ankommen-local up|down|status|env`. Python: `ankommen_local.infra.endpoints()`.
"""
