"""phonetool: upload a phone list, get it validated, annotated and exported."""
