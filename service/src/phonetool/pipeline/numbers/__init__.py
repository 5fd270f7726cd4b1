"""One phone number in, its annotation out: parsing, masked numbers, places and carriers."""
