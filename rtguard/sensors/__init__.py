"""Sensor formats (Zeek conn.log, Suricata eve.json flows, CICFlowMeter CSV): their feature mappings and line readers."""
