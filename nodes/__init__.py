"""Everything that runs at a camera site: sources, the frame pipeline, analytics, the node CLI."""
