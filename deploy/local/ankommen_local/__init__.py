"""Local Kafka and PostgreSQL as native processes."""
