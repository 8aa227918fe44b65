"""The outside world's data formats: dataset readers, record schemas and Kafka I/O."""
