// placeholder: the CLI engine and vendor profiles land here (issue 5)
