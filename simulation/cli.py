"""``safecity demo``: the whole product end to end on a generated city, and what it did."""

from __future__ import annotations

from pathlib import Path

import click

from kernel.errors import SafecityError
from privacy.cli import model_dir_option


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-output"), show_default=True, help="Folder for everything.")
@model_dir_option
def demo(out: Path, model_dir: Path) -> None:
    """Run the whole product on generated footage and print what it did."""
    from simulation.demo import run_demo

    summary = run_demo(out, model_dir)
    failed = False
    for camera in summary["cameras"]:
        if camera["status"] != "ok":
            failed = True
            click.echo(f"{camera['camera']}: FAILED: {camera['error']}")
            continue
        click.echo(
            f"{camera['camera']}: {camera['frames']} frames at {camera['frames_per_second']} "
            f"frames/s; faces covered {camera['face_recall']:.1%} of "
            f"{camera['faces_in_ground_truth']} (cut by the frame's edge: "
            f"{camera['edge_face_recall']:.1%} of {camera['edge_faces_in_ground_truth']}), "
            f"plates {camera['plate_recall']:.1%} of "
            f"{camera['plates_in_ground_truth']}; faces still detectable in output: "
            f"{camera['faces_found_in_output']}; redacted video: {camera['redacted_video']}"
        )
    vault = summary["vault"]
    click.echo(f"vault: {vault['segments_checked']} encrypted raw segments checked, "
               f"{vault['damaged']} damaged; export of {vault['export_segments']} segments "
               f"under evidence-export warrant {vault['export_warrant']}, checked by the node, "
               f"sealed and verified, city audit entry {vault['export_in_city_log']}: "
               f"{vault['export']}")
    city = summary["city"]
    seen = sorted({h["target"] for h in city["hits"]})
    click.echo(f"coordinator {city['coordinator']}: warrant {city['warrant']} signed by the "
               f"judge; node {', '.join(city['node_status'])}; {len(seen)} of "
               f"{city['watchlist']} watchlist plates sighted ({', '.join(seen)}); a second use "
               f"was {city['second_use']}; audit log of {city['audit_entries']} entries "
               f"{'verified' if city['audit_verified'] else 'FAILED verification'}")
    witnesses = city["witnesses"]
    click.echo(f"witnesses: the node pinned {witnesses['pinned']} (a checkpoint needs "
               f"{witnesses['quorum']} cosignatures); the newest witnessed checkpoint covers "
               f"{witnesses['witnessed_size']} entries, cosigned by "
               f"{', '.join(witnesses['cosigned_by']) or 'none'}")
    dp = city["aggregate"]
    evidenced = sum(1 for shots in city["incident_evidence"].values() if shots)
    click.echo(f"control room: {city['events_sent']} anonymous events from the node became "
               f"alerts {city['alerts']}, {sum(city['incidents'].values())} incidents "
               f"{city['incidents']}, {evidenced} of them with the node's signed, redacted "
               f"snapshot; a planner's hourly visit counts: {dp['cells']} cells "
               f"released with {dp['mechanism']} noise at epsilon {dp['epsilon']} "
               f"({dp['suppressed']} small counts withheld; epsilon {dp['epsilon_left']} left)")
    trained = city["training"]
    spent = ", ".join(f"{site} {epsilon:.2f}" for site, epsilon in trained["epsilon_spent"].items())
    click.echo(f"federated learning: run {trained['run']} {trained['status']} "
               f"({trained['rounds']} rounds, DP-SGD under SecAgg+; epsilon spent: {spent}); "
               f"unusual-behaviour model installed at the demo node: "
               f"{'yes' if trained['installed_at_demo_node'] else 'NO'}")
    click.echo(f"summary: {out / 'summary.json'}; the demo people's logins for the pages: "
               f"{city['logins']} (mode 0600)")
    portal = city["portal"]
    click.echo(f"transparency portal with the demo's data ({portal['checkpoint_size']} log "
               f"entries: {portal['searches']} searches, {portal['warrants']} warrant decisions, "
               f"{portal['trainings']} training run(s)): {portal['address']}  (serve it again with "
               f"`safecity coordinator serve --config {city['config']}`)")
    if failed:
        raise SafecityError("some cameras failed")
