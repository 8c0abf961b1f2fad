"""What a batch hands back: the grade sheet, feedback per student and the class report."""
