"""People: hair (styles, strands, dynamics) grown on anny bodies, pure numpy; the Blender
backend turns them into curves."""
