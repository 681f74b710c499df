"""The production docker-compose stack."""
