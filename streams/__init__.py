"""newsmon stream processing: tagging, counting, alerting and webhook delivery."""
