"""The chaos and soak harness (issue 15): faults under load, checked by a total-order checker."""
