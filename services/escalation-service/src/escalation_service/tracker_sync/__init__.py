"""Status changes of the QA tracker (Jira) flowing back into our bug workflow."""
