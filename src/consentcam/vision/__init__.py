"""Decode, detect, align, assess quality and embed faces.

The public functions are re-exported here; importing this package loads no model.
"""

from consentcam.vision.decode import load_image
from consentcam.vision.detect import face_detections
from consentcam.vision.embed import chip_embeddings
from consentcam.vision.faces import detected_faces, file_faces, image_faces, main_face
from consentcam.vision.records import Box, Detection, Face, Landmarks, Quality

__all__ = [
    "Box",
    "Detection",
    "Face",
    "Landmarks",
    "Quality",
    "chip_embeddings",
    "detected_faces",
    "face_detections",
    "file_faces",
    "image_faces",
    "load_image",
    "main_face",
]
