"""nbgrader's configuration for the nti_edu course: the folder this file is in is the course directory.

Copy the folder out of the repository and run nbgrader there (README.md in this folder, the instructor's guide):

    cd ~/nti-course
    for folder in source/*/; do nbgrader generate_assignment "$(basename "$folder")" --force; done
    nbgrader zip_collect 01_ddim_recap    # downloaded/01_ddim_recap/archive/*.zip -> submitted/<student>/...
    nbgrader autograde 01_ddim_recap      # submitted/<student>/01_ddim_recap/ -> autograded/
"""
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "nti_edu"
# Each notebook runs top to bottom in about a minute on a 2-core CPU; leave room for slow machines.
c.ExecutePreprocessor.timeout = 600

# zip_collect: the student id and the notebook read from each extracted file's whole path, here
# .../<student id>/<notebook>.ipynb (a folder per student in the zip); change it to match your LMS's file names
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+)/(?P<file_id>[^/]+\.ipynb)$"

# Feedback shows the check cells with their hidden tests (nbgrader's default). To keep them out, uncomment the
# lines below before autograding: the hidden tests are cut from the feedback, and a failing check's traceback is
# only its message (a traceback would quote the failing line).
# from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
# from nbgrader.preprocessors import ClearHiddenTests, GetGrades
# c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
# c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]
