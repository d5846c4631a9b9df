"""Price-transparency index: stream a payer's table of contents into the mrf schema."""
