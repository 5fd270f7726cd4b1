"""The read side: an upload opened as a header and rows (CSV, XLSX), in constant memory."""
