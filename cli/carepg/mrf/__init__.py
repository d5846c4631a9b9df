"""Price-transparency index (issue 6): stream a payer's table of contents into the mrf schema."""
