"""Node analytics: zones, lines and rules over tracked people and vehicles (pure logic here)."""
