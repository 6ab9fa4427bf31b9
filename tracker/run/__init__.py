"""Running one revision: the job description, the proving pipeline, and asv around it."""
