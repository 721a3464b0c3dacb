"""The one definition of each claim: answer format, tasks, rewards, objectives, selection, pass@k, grading."""
