"""αMatte4K's Unreal Engine side: plan, build and render one shot inside the editor.

sequence_plan, status and inbox are pure Python (unit-tested without Unreal); scene, sequence,
queue and shot drive the editor through the `unreal` module. Nothing here has been run on Unreal Engine
yet: the UE API names follow the public Python API docs of UE 5.4/5.5.
"""
