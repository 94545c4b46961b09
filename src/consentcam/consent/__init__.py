"""Consent as data: jurisdiction profiles, the consent ledger, enrolment and withdrawal."""
