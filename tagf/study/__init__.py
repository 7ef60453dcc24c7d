"""The misalignment study: the protocol every trained model is scored on, its statistics, tables and figures."""
