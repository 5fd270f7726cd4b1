"""The write side: annotated rows as the text of the exports, and the XLSX and CSV files."""
