"""What was handed in and what it is graded against: files, folders and LMS downloads become
one submission per student (who handed it in: the LMS layout and the roster); the version stamp
picks the published autograder and, for per-student variants, the seed."""
