"""REST endpoints for accounts: /me/, /keys/, /members/."""
